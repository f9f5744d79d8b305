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
