# -*- coding: utf-8 -*-
"""Video dataset loaders, the check CLI and detectron2 registration.

Every test writes a tiny dataset (8x6 images) under tmp_path in the layout of
the official toolkit; where the got10k toolkit can read the same folder, the
loaders are compared against it directly.
"""
import io
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from guided_tracking.data import check
from guided_tracking.data.datasets import (
    DatasetFormatError,
    load_folder,
    load_got10k,
    load_lasot,
    load_nfs,
    load_otb,
    load_uav123,
    register_all_video_datasets,
    register_folder_dataset,
    register_video_dataset,
)

REAL_SEQUENCES = Path(__file__).resolve().parents[2] / "shared/data/sequences"
W, H = 8, 6


def _encode(fmt: str) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(H, W, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


JPEG = _encode("JPEG")
PNG = _encode("PNG")


def write_frames(folder: Path, names, data: bytes = JPEG):
    """Write the same tiny image under each name (encoding once keeps tests fast)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(data)
    return folder


def write_lines(path: Path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def boxes_text(boxes, sep=","):
    return [sep.join(str(v) for v in b) for b in boxes]


# ---------------------------------------------------------------------------
# GOT-10k
# ---------------------------------------------------------------------------
GOT_BOXES = [[1, 2, 3, 4], [1.5, 2.5, 3, 4], [2, 2, 3, 3]]


def make_got10k(root: Path, split="train", names=("GOT-10k_Train_000002", "GOT-10k_Train_000001")):
    for name in names:
        seq = write_frames(root / split / name, [f"{i:08d}.jpg" for i in range(1, 4)])
        if split == "test":
            write_lines(seq / "groundtruth.txt", boxes_text(GOT_BOXES[:1]))
            continue
        write_lines(seq / "groundtruth.txt", boxes_text(GOT_BOXES))
        write_lines(seq / "absence.label", ["0", "1", "0"])
        write_lines(seq / "cover.label", ["8", "3", "0"])
        write_lines(seq / "meta_info.ini", ["[METAINFO]", "url: x", "object_class: ichneumon", "motion_class: run"])
    # list.txt deliberately unsorted: the loader output is sorted by name.
    write_lines(root / split / "list.txt", list(names))
    return root


def test_got10k_train_boxes_visibility_meta(tmp_path):
    make_got10k(tmp_path)
    seqs = load_got10k(tmp_path, "train")
    assert [s["seq_name"] for s in seqs] == ["GOT-10k_Train_000001", "GOT-10k_Train_000002"]
    s = seqs[0]
    assert s["boxes_xywh"].dtype == np.float32 and s["boxes_xywh"].shape == (3, 4)
    np.testing.assert_allclose(s["boxes_xywh"], GOT_BOXES)
    # frame 1 absent, frame 2 cover 0 (fully occluded)
    assert s["visible"].tolist() == [True, False, False]
    assert s["cover"].tolist() == [8, 3, 0]
    assert s["object_class"] == "ichneumon"
    assert (s["width"], s["height"]) == (W, H)
    assert s["dataset"] == "got10k"
    assert all(os.path.isabs(p) for p in s["file_names"])
    assert [os.path.basename(p) for p in s["file_names"]] == ["00000001.jpg", "00000002.jpg", "00000003.jpg"]


def test_got10k_matches_toolkit(tmp_path):
    from got10k.datasets import GOT10k

    make_got10k(tmp_path)
    toolkit = GOT10k(str(tmp_path), subset="train")
    ours = {s["seq_name"]: s for s in load_got10k(tmp_path, "train")}
    for name in toolkit.seq_names:
        img_files, anno = toolkit[name]
        assert ours[name]["file_names"] == [os.path.abspath(p) for p in img_files]
        np.testing.assert_allclose(ours[name]["boxes_xywh"], anno)


def test_got10k_test_split_first_box_only(tmp_path):
    make_got10k(tmp_path, "test", names=("GOT-10k_Test_000001",))
    (s,) = load_got10k(tmp_path, "test")
    np.testing.assert_allclose(s["boxes_xywh"][0], GOT_BOXES[0])
    assert np.isnan(s["boxes_xywh"][1:]).all()
    assert s["visible"].tolist() == [True, False, False]
    assert len(s["file_names"]) == 3


@pytest.mark.parametrize("n_lines", [2, 4])
def test_got10k_count_mismatch_names_counts_and_file(tmp_path, n_lines):
    make_got10k(tmp_path, names=("seq",))
    write_lines(tmp_path / "train/seq/groundtruth.txt", boxes_text((GOT_BOXES * 2)[:n_lines]))
    with pytest.raises(DatasetFormatError) as e:
        load_got10k(tmp_path, "train")
    msg = str(e.value)
    assert "groundtruth.txt" in msg and f"{n_lines} annotation lines but 3 frames" in msg
    if n_lines > 3:  # the first line without a frame
        assert "groundtruth.txt:4:" in msg and e.value.line == 4


@pytest.mark.parametrize(
    "bad_line, expected",
    [
        ("abc,1,2", "expected 4 numbers separated by ',', got 'abc,1,2'"),
        ("1,2,3", "expected 4 numbers separated by ',', got '1,2,3'"),
        ("1,2,nan,4", "NaN is not allowed"),
        ("1,2,-3,4", "negative width/height"),
    ],
)
def test_got10k_bad_line_reports_file_and_line(tmp_path, bad_line, expected):
    make_got10k(tmp_path, names=("seq",))
    write_lines(tmp_path / "train/seq/groundtruth.txt", ["1,2,3,4", bad_line, "1,2,3,4"])
    with pytest.raises(DatasetFormatError) as e:
        load_got10k(tmp_path, "train")
    assert str(e.value).startswith(str(tmp_path / "train/seq/groundtruth.txt") + ":2: ")
    assert expected in str(e.value)
    assert e.value.line == 2


def test_got10k_bad_label_and_label_count(tmp_path):
    make_got10k(tmp_path, names=("seq",))
    write_lines(tmp_path / "train/seq/cover.label", ["8", "9", "0"])
    with pytest.raises(DatasetFormatError, match=r"cover\.label:2: expected one integer in 0\.\.8, got '9'"):
        load_got10k(tmp_path, "train")
    write_lines(tmp_path / "train/seq/cover.label", ["8", "3"])
    with pytest.raises(DatasetFormatError, match=r"cover\.label: 2 labels but 3 frames"):
        load_got10k(tmp_path, "train")


def test_got10k_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="list.txt"):
        load_got10k(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match="does_not_exist"):
        load_got10k(tmp_path / "does_not_exist", "val")
    make_got10k(tmp_path, names=("seq",))
    (tmp_path / "train/seq/groundtruth.txt").unlink()
    with pytest.raises(FileNotFoundError) as e:
        load_got10k(tmp_path, "train")
    assert str(tmp_path / "train/seq/groundtruth.txt") in str(e.value)
    assert "Expected layout" in str(e.value)


def test_collector_mode_reports_all_and_keeps_good_sequences(tmp_path):
    make_got10k(tmp_path, names=("good", "bad_lines", "bad_count"))
    write_lines(tmp_path / "train/bad_lines/groundtruth.txt", ["x,1,2,3", "1,2,3,4", "1;2;3;4"])
    write_lines(tmp_path / "train/bad_lines/cover.label", ["8", "x", "0"])  # same sequence, second file
    write_lines(tmp_path / "train/bad_count/groundtruth.txt", ["1,2,3,4"])
    errors = []
    seqs = load_got10k(tmp_path, "train", errors=errors)
    assert [s["seq_name"] for s in seqs] == ["good"]
    assert all(isinstance(e, DatasetFormatError) for e in errors)
    locations = sorted(
        (os.path.basename(os.path.dirname(e.path)), os.path.basename(e.path), e.line or 0) for e in errors
    )
    assert locations == [
        ("bad_count", "groundtruth.txt", 0),
        ("bad_lines", "cover.label", 2),
        ("bad_lines", "groundtruth.txt", 1),
        ("bad_lines", "groundtruth.txt", 3),
    ]


# ---------------------------------------------------------------------------
# LaSOT
# ---------------------------------------------------------------------------
def make_lasot_seq(root: Path, name: str, boxes, occlusion, out_of_view):
    seq = root / name[: name.rfind("-")] / name
    write_frames(seq / "img", [f"{i:08d}.jpg" for i in range(1, len(boxes) + 1)])
    write_lines(seq / "groundtruth.txt", boxes_text(boxes))
    write_lines(seq / "full_occlusion.txt", [",".join(map(str, occlusion))])
    write_lines(seq / "out_of_view.txt", [",".join(map(str, out_of_view))])
    return seq


def test_lasot_split_flags_and_missing_warning(tmp_path, caplog):
    boxes = [[10, 20, 30, 40], [0, 0, 0, 0], [11, 21, 30, 40], [12, 22, 30, 40]]
    make_lasot_seq(tmp_path, "airplane-1", boxes, [0, 1, 0, 0], [0, 0, 1, 0])  # protocol-II test
    make_lasot_seq(tmp_path, "airplane-10", boxes, [0, 0, 0, 0], [0, 0, 0, 0])  # train
    with caplog.at_level(logging.WARNING, logger="guided_tracking.data.datasets"):
        test = load_lasot(tmp_path, "test")
    assert [s["seq_name"] for s in test] == ["airplane-1"]
    assert "279 of 280" in caplog.text
    s = test[0]
    assert s["object_class"] == "airplane" and s["dataset"] == "lasot"
    np.testing.assert_allclose(s["boxes_xywh"], boxes)
    assert s["visible"].tolist() == [True, False, False, True]
    assert [s["seq_name"] for s in load_lasot(tmp_path, "train")] == ["airplane-10"]
    assert [s["seq_name"] for s in load_lasot(tmp_path, None)] == ["airplane-1", "airplane-10"]


def test_lasot_flag_count_and_value_errors(tmp_path):
    seq = make_lasot_seq(tmp_path, "airplane-1", [[1, 2, 3, 4]] * 3, [0, 0], [0, 0, 0])
    with pytest.raises(DatasetFormatError, match=r"full_occlusion\.txt:1: 2 flags but 3 frames"):
        load_lasot(tmp_path, "test")
    write_lines(seq / "full_occlusion.txt", ["0,2,0"])
    with pytest.raises(DatasetFormatError, match=r"full_occlusion\.txt:1: expected 0/1 .* got '2' at position 2"):
        load_lasot(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="no LaSOT sequence of the train split"):
        load_lasot(tmp_path, "train")


# ---------------------------------------------------------------------------
# OTB
# ---------------------------------------------------------------------------
def make_otb(root: Path):
    # Crossing: in OTB-2013 and 2015, comma separated, CRLF line ends (as shipped).
    write_frames(root / "Crossing/img", [f"{i:04d}.jpg" for i in range(1, 4)])
    (root / "Crossing/groundtruth_rect.txt").write_bytes(b"205,151,17,50\r\n202,150,19,49\r\n201,150,18,49\r\n")
    # Biker: only in 2015, tab separated with one space-separated line (like BlurCar1).
    write_frames(root / "Biker/img", [f"{i:04d}.jpg" for i in range(1, 3)])
    write_lines(root / "Biker/groundtruth_rect.txt", ["262\t94\t16\t26", "261 93  16 26"])
    # Jogging: two targets, two annotation files.
    write_frames(root / "Jogging/img", [f"{i:04d}.jpg" for i in range(1, 3)])
    write_lines(root / "Jogging/groundtruth_rect.1.txt", ["1,2,3,4", "2,3,4,5"])
    write_lines(root / "Jogging/groundtruth_rect.2.txt", ["9,8,7,6", "8,7,6,5"])
    # Football1: 81 frames in the folder, only 1-74 annotated.
    write_frames(root / "Football1/img", [f"{i:04d}.jpg" for i in range(1, 82)])
    write_lines(root / "Football1/groundtruth_rect.txt", ["1,1,5,5"] * 74)
    # Human4-like empty extra annotation file: ignored.
    write_frames(root / "Human4/img", [f"{i:04d}.jpg" for i in range(1, 3)])
    write_lines(root / "Human4/groundtruth_rect.1.txt", [])
    write_lines(root / "Human4/groundtruth_rect.2.txt", ["1,2,3,4", "1,2,3,4"])
    return root


def test_otb_versions_separators_multi_target_and_ranges(tmp_path):
    make_otb(tmp_path)
    by_name = {s["seq_name"]: s for s in load_otb(tmp_path, 2015)}
    assert sorted(by_name) == ["Biker", "Crossing", "Football1", "Human4", "Jogging.1", "Jogging.2"]
    np.testing.assert_allclose(by_name["Crossing"]["boxes_xywh"][1], [202, 150, 19, 49])
    np.testing.assert_allclose(by_name["Biker"]["boxes_xywh"], [[262, 94, 16, 26], [261, 93, 16, 26]])
    np.testing.assert_allclose(by_name["Jogging.2"]["boxes_xywh"][0], [9, 8, 7, 6])
    assert by_name["Jogging.1"]["file_names"] == by_name["Jogging.2"]["file_names"]
    football = by_name["Football1"]
    assert len(football["file_names"]) == 74 and football["file_names"][-1].endswith("0074.jpg")
    # OTB-2013 has no Biker; version=None takes every folder.
    assert "Biker" not in {s["seq_name"] for s in load_otb(tmp_path, 2013)}
    assert len(load_otb(tmp_path, None)) == 6


def test_otb_matches_toolkit(tmp_path):
    from got10k.datasets import OTB

    make_otb(tmp_path)
    toolkit = OTB(str(tmp_path), version=2015, download=False)
    ours = {s["seq_name"]: s for s in load_otb(tmp_path, 2015)}
    assert sorted(toolkit.seq_names) == sorted(ours)
    for name in toolkit.seq_names:
        img_files, anno = toolkit[name]
        assert ours[name]["file_names"] == [os.path.abspath(p) for p in img_files]
        np.testing.assert_allclose(ours[name]["boxes_xywh"], anno)


def test_otb_count_mismatch_and_missing_annotation(tmp_path):
    make_otb(tmp_path)
    write_lines(tmp_path / "Crossing/groundtruth_rect.txt", ["1,2,3,4"] * 4)
    with pytest.raises(DatasetFormatError, match=r"Crossing/groundtruth_rect\.txt:4: 4 annotation lines but 3 frames"):
        load_otb(tmp_path, None)
    (tmp_path / "Crossing/groundtruth_rect.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"Crossing/groundtruth_rect\.txt"):
        load_otb(tmp_path, None)


# ---------------------------------------------------------------------------
# UAV123
# ---------------------------------------------------------------------------
def make_uav(root: Path, version_dir="UAV123", seqs=(("person8_2", "person8", 1075, 1525),)):
    """Frames first..last of each (subseq, folder, first, last) and its annotation
    with line 2 = NaN (absent target)."""
    rng = np.random.default_rng(0)
    written = {}
    for name, folder, first, last in seqs:
        write_frames(root / "data_seq" / version_dir / folder, [f"{i:06d}.jpg" for i in range(first, last + 1)])
        boxes = rng.integers(1, 50, size=(last - first + 1, 4)).astype(float)
        lines = boxes_text(boxes.astype(int))
        boxes[1] = np.nan
        lines[1] = "NaN,NaN,NaN,NaN"
        write_lines(root / "anno" / version_dir / f"{name}.txt", lines)
        written[name] = boxes
    return written


def test_uav123_subsequence_range_and_nan_absent(tmp_path):
    # person8_2 is frames 1075-1525 of folder person8 in got10k's uav123.json
    boxes = make_uav(tmp_path)["person8_2"]
    (s,) = load_uav123(tmp_path)
    assert s["seq_name"] == "person8_2" and len(s["file_names"]) == 451
    assert s["file_names"][0].endswith(os.path.join("person8", "001075.jpg"))
    assert s["file_names"][-1].endswith("001525.jpg")
    np.testing.assert_allclose(s["boxes_xywh"], boxes)  # NaN compares equal to NaN here
    assert s["visible"][0] and not s["visible"][1] and s["visible"][2:].all()


def test_uav123_10fps_frame_numbers(tmp_path):
    # 10 fps frame = (30 fps frame - 1) // 3 + 1: bird1_2 (775-1477) -> 259-493.
    make_uav(tmp_path, "UAV123_10fps", seqs=(("bird1_2", "bird1", 259, 493),))
    (s,) = load_uav123(tmp_path, "UAV123@10fps")
    assert os.path.basename(s["file_names"][0]) == "000259.jpg" and len(s["file_names"]) == 235


def test_uav123_errors(tmp_path):
    make_uav(tmp_path)
    anno = tmp_path / "anno/UAV123/person8_2.txt"
    lines = anno.read_text().splitlines()
    write_lines(anno, lines[:2] + ["1,NaN,3,4"] + lines[3:])
    with pytest.raises(DatasetFormatError, match=r"person8_2\.txt:3: NaN is not allowed only as a whole"):
        load_uav123(tmp_path)
    write_lines(anno, lines[:-1])
    with pytest.raises(DatasetFormatError, match=r"person8_2\.txt: 450 annotation lines but 451 frames"):
        load_uav123(tmp_path)
    (tmp_path / "data_seq/UAV123/person8/001200.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="001200.jpg"):
        load_uav123(tmp_path)
    with pytest.raises(FileNotFoundError, match="anno/UAV20L"):
        load_uav123(tmp_path, "UAV20L")


# ---------------------------------------------------------------------------
# NfS
# ---------------------------------------------------------------------------
def nfs_line(frame_num, x0, lost=0, occluded=0):
    return f'1 {x0} 10 {x0 + 20} 40 {frame_num} {lost} {occluded} 0 "person"'


def make_nfs(root: Path, n_frames=4, n_lines=32, where="30"):
    seq = root / "Gymnastics"
    write_frames(seq / "30/Gymnastics", [f"{i:05d}.jpg" for i in range(1, n_frames + 1)])
    lines = [nfs_line(i + 1, x0=i) for i in range(n_lines)]
    lines[1] = nfs_line(2, 1, lost=1)  # dropped by subsampling: must not matter
    lines[8] = nfs_line(9, 8, lost=1)  # kept (frame 1)
    lines[16] = nfs_line(17, 16, occluded=1)  # kept (frame 2)
    write_lines(seq / where / "Gymnastics.txt", lines)
    return root


def test_nfs_subsample_xyxy_and_flags(tmp_path):
    make_nfs(tmp_path)
    (s,) = load_nfs(tmp_path)
    # every 8th 240 fps line: lines 1, 9, 17, 25 -> xmin 0, 8, 16, 24; w = 20, h = 30
    np.testing.assert_allclose(s["boxes_xywh"], [[0, 10, 20, 30], [8, 10, 20, 30], [16, 10, 20, 30], [24, 10, 20, 30]])
    assert s["visible"].tolist() == [True, False, False, True]
    assert s["dataset"] == "nfs" and s["seq_name"] == "Gymnastics"


def test_nfs_off_by_one_trim_and_240_fallback(tmp_path):
    # 33 lines / 4 frames -> every 8th gives 5 boxes -> one too many: trimmed (toolkit rule).
    make_nfs(tmp_path, n_lines=33, where="240")
    (s,) = load_nfs(tmp_path)
    assert len(s["file_names"]) == 4 and s["boxes_xywh"].shape == (4, 4)
    assert s["boxes_xywh"][3, 0] == 24


def test_nfs_matches_toolkit(tmp_path):
    from got10k.datasets import NfS

    make_nfs(tmp_path, n_lines=33)
    img_files, anno = NfS(str(tmp_path), fps=30)[0]
    (s,) = load_nfs(tmp_path)
    assert s["file_names"] == [os.path.abspath(p) for p in img_files]
    np.testing.assert_allclose(s["boxes_xywh"], anno)


def test_nfs_errors(tmp_path):
    make_nfs(tmp_path, n_lines=20)
    with pytest.raises(DatasetFormatError, match=r"Gymnastics\.txt: 20 annotation lines .* but 4 frames"):
        load_nfs(tmp_path)
    write_lines(tmp_path / "Gymnastics/30/Gymnastics.txt", [nfs_line(1, 0), "1 2 3", nfs_line(3, 0)])
    with pytest.raises(DatasetFormatError, match=r"Gymnastics\.txt:2: expected 'track_id xmin"):
        load_nfs(tmp_path)
    write_lines(tmp_path / "Gymnastics/30/Gymnastics.txt", ['1 30 10 20 40 1 0 0 0 "person"'])
    with pytest.raises(DatasetFormatError, match=r"Gymnastics\.txt:1: xmax < xmin"):
        load_nfs(tmp_path)


# ---------------------------------------------------------------------------
# Generic folder
# ---------------------------------------------------------------------------
def test_folder_detects_layout_per_sequence(tmp_path):
    write_frames(tmp_path / "b_otb/img", ["0001.jpg", "0002.jpg"])
    write_lines(tmp_path / "b_otb/groundtruth_rect.txt", ["1\t2\t3\t4", "NaN,NaN,NaN,NaN"])
    write_frames(tmp_path / "a_flat", ["1.png", "2.png", "10.png"], PNG)
    write_lines(tmp_path / "a_flat/groundtruth_rect.txt", ["1,1,2,2", "2,2,2,2", "10,10,2,2"])
    write_frames(tmp_path / "c_got", ["00000001.jpg", "00000002.jpg"])
    write_lines(tmp_path / "c_got/groundtruth.txt", ["5,6,7,8", "5,6,7,8"])
    write_lines(tmp_path / "c_got/absence.label", ["0", "1"])
    (tmp_path / "not_a_sequence").mkdir()
    seqs = load_folder(tmp_path)
    assert [s["seq_name"] for s in seqs] == ["a_flat", "b_otb", "c_got"]
    flat, otb, got = seqs
    # natural frame order: 2.png before 10.png, boxes follow it
    assert [os.path.basename(p) for p in flat["file_names"]] == ["1.png", "2.png", "10.png"]
    assert flat["boxes_xywh"][2, 0] == 10 and (flat["width"], flat["height"]) == (W, H)
    assert otb["visible"].tolist() == [True, False] and np.isnan(otb["boxes_xywh"][1]).all()
    assert got["visible"].tolist() == [True, False]
    # a single sequence folder works as root too
    (single,) = load_folder(tmp_path / "b_otb")
    assert single["seq_name"] == "b_otb"


def test_folder_list_txt_and_missing_annotation(tmp_path):
    write_frames(tmp_path / "s1", ["00000001.jpg"])
    write_lines(tmp_path / "s1/groundtruth.txt", ["1,2,3,4"])
    write_frames(tmp_path / "s2", ["00000001.jpg"])
    write_lines(tmp_path / "s2/groundtruth.txt", ["1,2,3,4"])
    write_lines(tmp_path / "list.txt", ["s2"])
    assert [s["seq_name"] for s in load_folder(tmp_path)] == ["s2"]
    write_frames(tmp_path / "s3", ["0001.jpg"])
    write_lines(tmp_path / "list.txt", ["s2", "s3"])
    with pytest.raises(FileNotFoundError, match=r"s3/groundtruth_rect\.txt"):
        load_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no sequence found"):
        load_folder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="missing: directory not found"):
        load_folder(tmp_path / "missing")


# ---------------------------------------------------------------------------
# check CLI
# ---------------------------------------------------------------------------
def test_check_cli_reports_every_problem(tmp_path, capsys):
    write_frames(tmp_path / "Good/img", ["0001.jpg", "0002.jpg"])
    write_lines(tmp_path / "Good/groundtruth_rect.txt", ["1,2,3,4", "1,2,3,4"])
    write_frames(tmp_path / "BadLines/img", ["0001.jpg", "0002.jpg", "0003.jpg"])
    write_lines(tmp_path / "BadLines/groundtruth_rect.txt", ["1,2,3", "1,2,3,4", "a,b,c,d"])
    write_frames(tmp_path / "BadCount/img", ["0001.jpg"])
    write_lines(tmp_path / "BadCount/groundtruth_rect.txt", ["1,2,3,4", "1,2,3,4"])
    write_frames(tmp_path / "Hidden/img", ["0001.jpg"])
    write_lines(tmp_path / "Hidden/groundtruth_rect.txt", ["1,2,0,0"])
    code = check.main([str(tmp_path), "--format", "otb"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    problems, summary = out[:-1], out[-1]
    assert len(problems) == 4
    assert any("BadLines/groundtruth_rect.txt:1: expected 4 numbers" in p for p in problems)
    assert any("BadLines/groundtruth_rect.txt:3: expected 4 numbers" in p for p in problems)
    assert any("BadCount/groundtruth_rect.txt:2: 2 annotation lines but 1 frames" in p for p in problems)
    assert any("Hidden/groundtruth_rect.txt:1: first frame of Hidden has no visible target" in p for p in problems)
    assert summary.startswith("summary: 2 sequences, 3 frames") and "4 problems" in summary


def test_check_cli_clean_and_missing_root(tmp_path, capsys):
    make_got10k(tmp_path, "val", names=("v1",))
    assert check.main([str(tmp_path), "--format", "got10k"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"summary: 1 sequences, 3 frames (2 without a visible target), 0 problems in {tmp_path} (got10k)"]
    assert check.main([str(tmp_path / "nope"), "--format", "lasot", "--split", "test"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "nope: directory not found" in out[0] and out[-1].startswith("summary: 0 sequences")


# ---------------------------------------------------------------------------
# detectron2 registration
# ---------------------------------------------------------------------------
def test_register_video_dataset_is_lazy_and_idempotent(tmp_path):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    name = "test_datasets_lazy_folder"
    register_folder_dataset(name, tmp_path / "later")  # nothing there yet: must not fail
    register_folder_dataset(name, tmp_path / "later")  # same args: no-op
    try:
        with pytest.raises(FileNotFoundError, match="later"):
            DatasetCatalog.get(name)
        write_frames(tmp_path / "later/Seq/img", ["0001.jpg"])
        write_lines(tmp_path / "later/Seq/groundtruth_rect.txt", ["3,4,5,6"])
        (s,) = DatasetCatalog.get(name)
        np.testing.assert_allclose(s["boxes_xywh"], [[3, 4, 5, 6]])
        meta = MetadataCatalog.get(name)
        assert (meta.evaluator_type, meta.format, meta.root) == ("tracking", "folder", str(tmp_path / "later"))
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register("test_datasets_foreign", lambda: [])
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_video_dataset("test_datasets_foreign", load_folder, root=str(tmp_path))
    finally:
        DatasetCatalog.remove("test_datasets_foreign")


def test_register_all_video_datasets_roots(tmp_path, monkeypatch):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    try:
        register_all_video_datasets()
        with pytest.raises(FileNotFoundError) as e:
            DatasetCatalog.get("got10k_train")
        assert str(tmp_path / "GOT-10k") in str(e.value) and "DETECTRON2_DATASETS" in str(e.value)
        make_got10k(tmp_path / "GOT-10k", "train", names=("t1",))
        assert [s["seq_name"] for s in DatasetCatalog.get("got10k_train")] == ["t1"]
        assert MetadataCatalog.get("got10k_train").root == str(tmp_path / "GOT-10k")
        # LaSOT is also found under its download name LaSOTBenchmark
        make_lasot_seq(tmp_path / "LaSOTBenchmark", "airplane-1", [[1, 2, 3, 4]], [0], [0])
        assert [s["seq_name"] for s in DatasetCatalog.get("lasot_test")] == ["airplane-1"]
        assert {"otb2013", "otb2015", "uav123", "nfs30", "lasot_train", "got10k_test"} <= set(DatasetCatalog.list())
    finally:
        monkeypatch.delenv("DETECTRON2_DATASETS")
        register_all_video_datasets()  # back to the import-time registration


# ---------------------------------------------------------------------------
# Real sample sequences (skipped where the shared data is absent)
# ---------------------------------------------------------------------------
@pytest.mark.skipif(not REAL_SEQUENCES.is_dir(), reason="shared sample sequences not available")
def test_real_sample_sequences():
    by_name = {s["seq_name"]: s for s in load_otb(REAL_SEQUENCES, version=None)}
    crossing = by_name["Crossing"]
    assert len(crossing["file_names"]) == 120 and (crossing["width"], crossing["height"]) == (360, 240)
    np.testing.assert_allclose(crossing["boxes_xywh"][0], [205, 151, 17, 50])
    assert crossing["visible"].all()
    assert len(by_name["Biker"]["file_names"]) == 142 and by_name["Biker"]["width"] == 640
    assert len(by_name["wakeboard7"]["file_names"]) == 67 and by_name["wakeboard7"]["height"] == 720
    assert [s["seq_name"] for s in load_folder(REAL_SEQUENCES)] == sorted(by_name)
