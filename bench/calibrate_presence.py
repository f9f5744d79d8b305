#!/usr/bin/env python
"""Fit the presence model (TRACKER.PRESENCE_WEIGHTS, tracking/presence.py) of a model.

Tracks every sequence of the given folders with the presence model off (the box
follows B* everywhere, also where the target is absent or B* is a look-alike), and
records per frame the detector's score of B*, its normalised appearance similarity
v' and whether the reported box is on the target (IoU >= 0.5 with a visible ground
truth). A logistic regression of that label on (logit score, v') gives the weights;
the script prints them with the accuracy at probability 0.5 and the share of absent
frames below it, and writes them to JSON. Fit on validation data only.

    python bench/calibrate_presence.py --config-file configs/CPU/reference_mnv2_FPN.yaml \\
        --roots ../shared/data/real/val ../shared/data/real/longterm --output presence.json
"""
import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import guided_tracking  # noqa: E402,F401  (compat shims before detectron2)
from detectron2.utils.logger import setup_logger  # noqa: E402

from guided_tracking import get_guided_cfg  # noqa: E402
from guided_tracking.data.datasets import load_folder  # noqa: E402
from guided_tracking.evaluation.longterm import frame_ious, visible_frames  # noqa: E402
from guided_tracking.frames import load_rgb_frame  # noqa: E402
from guided_tracking.io import atomic_write_json  # noqa: E402
from guided_tracking.tracking.build import build_tracker  # noqa: E402
from guided_tracking.tracking.presence import PresenceModel, fit_presence_weights  # noqa: E402


def record_sequence(tracker, record):
    """(scores, normalised similarities, labels, absent) of frames 2..N."""
    frames = record["file_names"]
    anno = np.asarray(record["boxes_xywh"], dtype=np.float64).copy()
    anno[~np.asarray(record["visible"], bool)] = np.nan
    tracker.initialize(np.asarray(load_rgb_frame(frames[0])), anno[0], frame_format="RGB")
    scale = tracker.state.similarity_scale
    rows = []
    for t in range(1, len(frames)):
        box = tracker.track(np.asarray(load_rgb_frame(frames[t])), frame_format="RGB")
        iou = frame_ious(box[None], anno[t:t + 1])[0]
        rows.append((tracker.state.score, scale.normalize(tracker.state.similarity), iou >= 0.5,
                     not visible_frames(anno[t:t + 1])[0]))
    return [np.array(c) for c in zip(*rows)] if rows else [np.zeros(0)] * 4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--roots", nargs="+", required=True, help="folders of validation sequences")
    parser.add_argument("--output", default=None, help="JSON file for the weights and the per-frame data")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (MODEL.WEIGHTS ...)")
    args = parser.parse_args(argv)
    setup_logger(name="guided_tracking", abbrev_name="gt")
    cfg = get_guided_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(list(args.opts) + ["TRACKER.PRESENCE_WEIGHTS", [], "TRACKER.REDETECT", False])
    cfg.freeze()
    tracker = build_tracker(cfg)
    tracker.measure_similarity = True  # v' is what is fitted; presence is off while recording
    data = {}
    for root in args.roots:
        for record in load_folder(root):
            data[f"{os.path.basename(os.path.normpath(root))}/{record['seq_name']}"] = record_sequence(tracker, record)
            s, v, y, a = data[list(data)[-1]]
            print(f"[calibrate] {list(data)[-1]}: {len(y)} frames, on target {y.mean():.2f}, absent {a.mean():.2f}",
                  flush=True)
    scores, sims, labels, absent = (np.concatenate([d[i] for d in data.values()]) for i in range(4))
    weights = fit_presence_weights(scores, sims, labels)
    model = PresenceModel(weights)
    p = np.array([model(s, v) for s, v in zip(scores, sims)])
    score_only = PresenceModel(fit_presence_weights(scores, np.zeros_like(sims), labels))
    p_score = np.array([score_only(s, 0.0) for s in scores])
    print(f"\nTRACKER.PRESENCE_WEIGHTS [{weights[0]:.3f}, {weights[1]:.3f}, {weights[2]:.3f}]  "
          f"(w_s on logit(score), w_v on v', bias) from {len(labels)} frames, {labels.mean():.2f} on target")
    print(f"accuracy at p = 0.5: {np.mean((p >= 0.5) == labels):.3f} (detector score alone, refitted: "
          f"{np.mean((p_score >= 0.5) == labels):.3f}); absent frames below 0.5: "
          f"{np.mean(p[absent] < 0.5) if absent.any() else float('nan'):.3f}; "
          f"on-target frames at or above 0.5: {np.mean(p[labels] >= 0.5):.3f}")
    if args.output:
        atomic_write_json(args.output, {"weights": list(weights), "frames": int(len(labels)),
                                        "on_target": float(labels.mean()),
                                        "accuracy": float(np.mean((p >= 0.5) == labels)),
                                        "accuracy_score_only": float(np.mean((p_score >= 0.5) == labels)),
                                        "sequences": {k: {"score": d[0].tolist(), "similarity": d[1].tolist(),
                                                          "on_target": d[2].tolist(), "absent": d[3].tolist()}
                                                      for k, d in data.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
