"""DATASETS.FOLDERS: any folder of sequences becomes a named training set."""
import os

import pytest

from detectron2.data import DatasetCatalog

from guided_tracking.data.build import ensure_datasets_registered, parse_folder_entry


def test_parse_folder_entry(tmp_path):
    assert parse_folder_entry(f"mine={tmp_path}") == ("mine", str(tmp_path))
    assert parse_folder_entry(f" mine = {tmp_path} ") == ("mine", str(tmp_path))
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_folder_entry(str(tmp_path))
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_folder_entry(f"={tmp_path}")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_folder_entry(f"mine={tmp_path / 'nope'}")


def test_folders_register_as_training_sets(tiny_cfg, synthetic_videos, default_dataset_registry):
    folder = os.path.join(synthetic_videos, "synthetic", "train")
    cfg = tiny_cfg("mnv2_fpn", ["DATASETS.FOLDERS", (f"my_videos={folder}",)])
    ensure_datasets_registered(cfg)
    records = DatasetCatalog.get("my_videos")
    assert len(records) == 3
    assert all(len(r["file_names"]) == 12 and len(r["boxes_xywh"]) == 12 for r in records)
    assert all(os.path.dirname(os.path.dirname(r["file_names"][0])) == folder for r in records)


def _otb_folder(root, names, box_xywh=(10.25, 20.5, 30.75, 15.125), frames=4):
    """OTB-layout sequences (img/0001.jpg..., groundtruth_rect.txt) with fractional boxes."""
    import cv2
    import numpy as np

    for name in names:
        img = root / name / "img"
        img.mkdir(parents=True)
        for i in range(frames):
            cv2.imwrite(str(img / f"{i + 1:04d}.jpg"), np.full((60, 80, 3), 40 * i, np.uint8))
        (root / name / "groundtruth_rect.txt").write_text("".join(
            ",".join(f"{v + i:g}" for v in box_xywh) + "\n" for i in range(frames)))
    return str(root)


def test_folder_training_sets_keep_fractional_boxes_and_mix_by_weight(tmp_path, tiny_cfg,
                                                                      default_dataset_registry):
    """Two OTB folders as DATASETS.TRAIN with DATASET_PROBS 0.8 / 0.2: boxes keep
    their fractions, and triplets come from each set at its weight."""
    import numpy as np

    from guided_tracking.data.sampler import TripletDataset

    real = _otb_folder(tmp_path / "real", ["a", "b"])
    other = _otb_folder(tmp_path / "other", ["c", "d", "e", "f"])
    cfg = tiny_cfg("mnv2_fpn", ["DATASETS.FOLDERS", (f"real_x={real}", f"other_x={other}"),
                                "DATASETS.TRAIN", ("real_x", "other_x"),
                                "DATALOADER.TRIPLET.DATASET_PROBS", [0.8, 0.2]])
    ensure_datasets_registered(cfg)
    records = [DatasetCatalog.get(name) for name in cfg.DATASETS.TRAIN]
    np.testing.assert_allclose(records[0][0]["boxes_xywh"][1], [11.25, 21.5, 31.75, 16.125])
    dataset = TripletDataset(records, mapper=lambda sample: sample, probs=cfg.DATALOADER.TRIPLET.DATASET_PROBS,
                             max_gap=3, seed=0)
    names = [dataset[i]["seq_name"] for i in range(400)]
    share = sum(n in ("a", "b") for n in names) / len(names)
    assert abs(share - 0.8) < 0.06, share  # by weight, not by the 2 : 4 sequence counts
