"""VOT-LT long-term precision / recall / F-score on hand-made cases
(guided_tracking.evaluation.longterm)."""
import numpy as np
import pytest

from guided_tracking.evaluation.longterm import frame_ious, longterm_scores, pr_re_curves, thresholds_for

NAN4 = [np.nan] * 4


def test_frame_ious_zero_where_the_target_is_absent_or_the_box_invalid():
    anno = np.array([[0, 0, 10, 10], NAN4, [0, 0, 10, 10], [0, 0, 10, 10]], float)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [5, 0, 10, 10], NAN4], float)
    np.testing.assert_allclose(frame_ious(boxes, anno), [1.0, 0.0, 50 / 150, 0.0])
    with pytest.raises(ValueError, match="3 predicted boxes for 4"):
        frame_ious(boxes[:3], anno)


def test_curves_by_the_definitions():
    # Frame 1 is the given one (left out). Frames 2-5: visible, visible, absent, visible.
    ious = np.array([1.0, 0.8, 0.4, 0.0, 0.6])
    visible = np.array([True, True, True, False, True])
    conf = np.array([1.0, 0.9, 0.3, 0.2, 0.7])
    thresholds = np.array([-np.inf, 0.25, 0.5, 0.95])
    precision, recall = pr_re_curves(ious, conf, visible, thresholds)
    # τ=-inf: all 4 predicted: Pr = (0.8+0.4+0+0.6)/4, Re = (0.8+0.4+0.6)/3.
    # τ=0.25: frame 4 (absent, conf 0.2) dropped: Pr = 1.8/3, Re = 1.8/3.
    # τ=0.5: frames 2, 5: Pr = 1.4/2, Re = 1.4/3. τ=0.95: nothing predicted: Pr = 1, Re = 0.
    np.testing.assert_allclose(precision, [1.8 / 4, 1.8 / 3, 0.7, 1.0])
    np.testing.assert_allclose(recall, [0.6, 0.6, 1.4 / 3, 0.0])


def test_reporting_absence_pays_only_where_the_target_is_absent():
    anno = np.array([[0, 0, 10, 10]] * 3 + [NAN4] * 3 + [[0, 0, 10, 10]] * 2, float)
    perfect = anno.copy()
    perfect[3:6] = [0, 0, 10, 10]  # keeps a box where the target is absent
    always = {"s": {"boxes_xywh": perfect, "anno_xywh": anno, "confidences": None}}
    knows = {"s": {"boxes_xywh": perfect, "anno_xywh": anno,
                   "confidences": np.array([1, 1, 1, 0.1, 0.1, 0.1, 1, 1], float)}}
    a, k = longterm_scores(always), longterm_scores(knows)
    # Always present: recall 1, precision = visible share of the tracked frames 2-8 (4 of 7).
    assert a["recall"] == pytest.approx(1.0) and a["precision"] == pytest.approx(4 / 7)
    assert a["f_score"] == pytest.approx(2 * (4 / 7) / (1 + 4 / 7))
    # Saying "absent" exactly there: precision and recall 1.
    assert k["f_score"] == pytest.approx(1.0) and k["threshold"] > 0.1
    assert k["sequences"]["s"]["absent_frames"] == 3


def test_dataset_curves_are_means_over_sequences():
    anno = np.array([[0, 0, 10, 10]] * 5, float)
    good = {"boxes_xywh": anno, "anno_xywh": anno, "confidences": np.full(5, 0.9)}
    bad = {"boxes_xywh": anno + [20, 0, 0, 0], "anno_xywh": anno, "confidences": np.full(5, 0.9)}
    scores = longterm_scores({"good": good, "bad": bad}, thresholds=np.array([0.0]))
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(0.5)
    assert scores["sequences"]["good"]["f_score"] == pytest.approx(1.0)
    assert scores["sequences"]["bad"]["f_score"] == 0.0


def test_thresholds_span_the_confidences_and_let_everything_through_first():
    t = thresholds_for([np.array([0.2, 0.5, np.nan]), np.array([0.9])], num=5)
    assert t[0] == -np.inf and t[1] == pytest.approx(0.2) and t[-1] == pytest.approx(0.9)
    assert np.all(np.diff(t) > 0)
    assert thresholds_for([np.array([np.nan])]).tolist() == [-np.inf]


# ---------------------------------------------------------------- in the benchmark runner
import os  # noqa: E402

from got10k.trackers import Tracker  # noqa: E402
from PIL import Image  # noqa: E402

from guided_tracking.evaluation import run_benchmark  # noqa: E402
from guided_tracking.evaluation.sequences import absence_mask  # noqa: E402


class SeesAbsence(Tracker):
    """Finds the bright square; says so with confidence 1, or 0 when there is none."""

    def __init__(self):
        super().__init__(name="SeesAbsence", is_deterministic=True)

    def init(self, image, box):
        self.box, self.last_confidence = np.asarray(box, float), 1.0

    def update(self, image):
        ys, xs = np.nonzero(np.asarray(image.convert("L")) > 128)
        self.last_confidence = float(len(xs) > 0)
        if len(xs):
            self.box = np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
        return self.box


class AlwaysThere(SeesAbsence):
    def update(self, image):
        box = super().update(image)
        del self.last_confidence  # no confidence at all: the target is reported everywhere
        return box


def _write_absent_sequence(root, name="gone", num_frames=10, absent=(4, 5, 6)):
    frame_dir = os.path.join(root, name, "img")
    os.makedirs(frame_dir)
    lines = []
    for i in range(num_frames):
        frame = np.zeros((48, 64, 3), np.uint8)
        if i in absent:
            lines.append("NaN,NaN,NaN,NaN")
        else:
            x = 4 + 3 * i
            frame[10:20, x:x + 12] = 255
            lines.append(f"{x},10,12,10")
        Image.fromarray(frame).save(os.path.join(frame_dir, f"{i + 1:04d}.png"))
    with open(os.path.join(root, name, "groundtruth_rect.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def test_runner_scores_absent_frames_as_no_target(tmp_path, capsys):
    root = str(tmp_path / "seqs")
    _write_absent_sequence(root)
    knows = run_benchmark(SeesAbsence, "folder", root, str(tmp_path / "out"), "SeesAbsence")
    lt = knows["longterm"]
    assert lt["f_score"] == pytest.approx(1.0) and lt["sequences"]["gone"]["absent_frames"] == 3
    assert "long-term" in capsys.readouterr().out
    assert os.path.isfile(tmp_path / "out" / "reports" / "folder" / "SeesAbsence" / "longterm_plot.png")
    always = run_benchmark(AlwaysThere, "folder", root, str(tmp_path / "out"), "AlwaysThere")["longterm"]
    # Frames 2-10 tracked, 3 of them absent: precision 6/9, recall 1.
    assert always["precision"] == pytest.approx(6 / 9) and always["recall"] == pytest.approx(1.0)
    assert always["f_score"] < lt["f_score"]


def test_runner_without_absent_frames_has_no_longterm_scores(tmp_path):
    root = str(tmp_path / "seqs")
    _write_absent_sequence(root, absent=())
    assert "longterm" not in run_benchmark(SeesAbsence, "folder", root, str(tmp_path / "out"), "SeesAbsence")


def test_absence_from_got10k_labels_and_lasot_flags(tmp_path):
    anno = np.tile([1.0, 1.0, 5.0, 5.0], (4, 1))
    seq = tmp_path / "val" / "GOT-10k_Val_000001"
    seq.mkdir(parents=True)
    (seq / "absence.label").write_text("0\n1\n0\n0\n")
    assert absence_mask("got10k_val", str(tmp_path), "GOT-10k_Val_000001", anno).tolist() == [False, True, False, False]
    lasot = tmp_path / "airplane" / "airplane-1"
    lasot.mkdir(parents=True)
    (lasot / "full_occlusion.txt").write_text("0,0,1,0")
    (lasot / "out_of_view.txt").write_text("0,0,0,1")
    assert absence_mask("lasot", str(tmp_path), "airplane-1", anno).tolist() == [False, False, True, True]
    nan_row = anno.copy()
    nan_row[0] = np.nan
    assert absence_mask("folder", str(tmp_path), "x", nan_row).tolist() == [True, False, False, False]
