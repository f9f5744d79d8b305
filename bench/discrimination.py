#!/usr/bin/env python
"""Does the detector tell the target from its surroundings? Open-loop measurements
on real validation sequences (no tracking loop, so no chaos: the same numbers on
every run), one row per model.

The tracker is initialised on frame 1 of each sequence (θ_0 -> θ_1 by the first-frame
steps); then, on every ``--stride``-th later frame, search crops are cut around the
ground truth as the tracker would cut them (5x the true size) and the detector's
top-scoring candidate is read, without the cosine window or Eq. 5:

* hit@d: the crop centre is d target sizes from the target (random direction); a hit
  is a top box with IoU >= 0.5 with the ground truth. A detector that learned "the
  target is at the centre" hits at d = 0 and misses beyond;
* free: crops 3.5 sizes from the target (none of it inside): median top score, share
  of crops whose top score reaches COLLECT_THRESHOLD (they would become positive
  online samples), share of top boxes within 0.75 sizes of the crop centre (uniform
  placement: ~7 %);
* loss: Eq. 1's loss (ROI / anchor CE + box) at the ground truth of the first frame's
  16 samples and of the later frames, for θ_0 and θ_1: whether the first-frame steps
  teach something that holds on later frames, or overfit the first one;
* sim: the verification similarity (tracking/verification.py), normalised per sequence
  (0: its first-frame clutter, 1: its target; presence.SimilarityScale), of top boxes
  that hit vs top boxes that miss (IoU < 0.1) and of target-free top boxes: where
  TRACKER.COLLECT_SIMILARITY separates the target from look-alikes.

    python bench/discrimination.py --config-file configs/CPU/guided_rcnn_mnv2_FPN.yaml \\
        --weights output/run/model_final.pth --name full --root ../shared/data/real/val
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import guided_tracking  # noqa: E402,F401  (compat shims before detectron2)
from detectron2.structures import Boxes, pairwise_iou  # noqa: E402
from detectron2.utils.logger import setup_logger  # noqa: E402

from guided_tracking import get_guided_cfg  # noqa: E402
from guided_tracking.boxes import xywh_to_xyxy  # noqa: E402
from guided_tracking.data.crop import CropGeometry, target_side_px  # noqa: E402
from guided_tracking.data.datasets import load_folder  # noqa: E402
from guided_tracking.frames import load_rgb_frame  # noqa: E402
from guided_tracking.io import atomic_write_json  # noqa: E402
from guided_tracking.tracking.build import build_tracker  # noqa: E402

OFFSETS = (0.0, 0.5, 1.0, 1.5, 2.0)
FREE_OFFSET = 3.5


def _crop(box_xywh, offset, angle, tracker):
    side = target_side_px(box_xywh)
    cx, cy = box_xywh[0] + box_xywh[2] / 2, box_xywh[1] + box_xywh[3] / 2
    centre = (cx + offset * side * math.cos(angle), cy + offset * side * math.sin(angle))
    return CropGeometry(centre, tracker.search_context * side, tracker.search_px)


def _top(tracker, image, geom, theta):
    images, features, (boxes, scores), aux = tracker.detect_in(image, geom, theta, "RGB")
    best = int(scores.argmax())
    return images, features, boxes, scores, best, aux


def measure_sequence(tracker, record, stride, rng):
    """Per-sequence lists of the measurements (module doc)."""
    model = tracker.model
    frames = record["file_names"]
    boxes_xywh = np.asarray(record["boxes_xywh"], dtype=np.float64)
    visible = np.asarray(record["visible"], bool)
    image0 = np.asarray(load_rgb_frame(frames[0]))
    tracker.initialize(image0, boxes_xywh[0], frame_format="RGB")
    state = tracker.state
    out = {f"hit@{d}": [] for d in OFFSETS}
    out.update({"free_score": [], "free_central": [], "loss_first_theta0": [], "loss_first_theta1": [],
                "loss_later_theta0": [], "loss_later_theta1": [], "sim_hit": [], "sim_miss": [], "sim_free": []})
    out["loss_first_theta0"].append(float(model.sample_loss(state.theta0, state.init_samples)))
    out["loss_first_theta1"].append(float(model.sample_loss(state.theta, state.init_samples)))
    for t in range(stride, len(frames), stride):
        if not visible[t]:
            continue
        image = np.asarray(load_rgb_frame(frames[t]))
        box = boxes_xywh[t]
        gt_xyxy = torch.as_tensor(xywh_to_xyxy(box), dtype=torch.float32)[None]
        for d in OFFSETS:
            geom = _crop(box, d, rng.uniform(0, 2 * math.pi), tracker)
            images, features, boxes, scores, best, aux = _top(tracker, image, geom, state.theta)
            top_image = torch.as_tensor(geom.box_from_crop(boxes[best:best + 1].cpu().numpy()), dtype=torch.float32)
            iou = float(pairwise_iou(Boxes(top_image), Boxes(gt_xyxy))[0, 0])
            out[f"hit@{d}"].append(iou >= 0.5)
            sim = state.similarity_scale.normalize(
                float(tracker.verifier.embed(features, boxes[best]) @ state.target_embedding))
            if iou >= 0.5:
                out["sim_hit"].append(sim)
            elif iou < 0.1:
                out["sim_miss"].append(sim)
            if d == 0.0:
                gt_crop = np.clip(geom.box_to_crop(xywh_to_xyxy(box)[None]), 0, tracker.search_px)
                samples = model.tracking_samples(images, features, gt_crop, aux,
                                                 rois_per_image=tracker.rois_per_sample)
                out["loss_later_theta0"].append(float(model.sample_loss(state.theta0, samples)))
                out["loss_later_theta1"].append(float(model.sample_loss(state.theta, samples)))
        angle = rng.uniform(0, 2 * math.pi)
        geom = _crop(box, FREE_OFFSET, angle, tracker)
        if 0 <= geom.center_xy[0] < image.shape[1] and 0 <= geom.center_xy[1] < image.shape[0]:
            _, features, boxes, scores, best, _ = _top(tracker, image, geom, state.theta)
            out["free_score"].append(float(scores[best]))
            centre = (boxes[best, :2] + boxes[best, 2:]) / 2 - tracker.search_px / 2
            out["free_central"].append(float(centre.norm()) / geom.scale <= 0.75 * target_side_px(box))
            out["sim_free"].append(state.similarity_scale.normalize(
                float(tracker.verifier.embed(features, boxes[best]) @ state.target_embedding)))
    return out


def summarize(per_seq, collect_threshold):
    pooled = {k: [v for seq in per_seq.values() for v in seq[k]] for k in next(iter(per_seq.values()))}

    def mean(k):
        return float(np.mean(pooled[k])) if pooled[k] else float("nan")

    def quantiles(k):
        return [float(q) for q in np.quantile(pooled[k], [0.1, 0.5, 0.9])] if pooled[k] else []

    summary = {f"hit@{d}": mean(f"hit@{d}") for d in OFFSETS}
    summary.update({
        "free_median_score": float(np.median(pooled["free_score"])) if pooled["free_score"] else float("nan"),
        "free_above_collect": float(np.mean(np.asarray(pooled["free_score"]) >= collect_threshold))
        if pooled["free_score"] else float("nan"),
        "free_central": mean("free_central"),
        **{k: mean(k) for k in ("loss_first_theta0", "loss_first_theta1", "loss_later_theta0", "loss_later_theta1")},
        "sim_hit_q10_50_90": quantiles("sim_hit"), "sim_miss_q10_50_90": quantiles("sim_miss"),
        "sim_free_q10_50_90": quantiles("sim_free"),
        "frames": len(pooled["hit@0.0"]), "free_crops": len(pooled["free_score"]),
    })
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", action="append", required=True, help="checkpoint (repeatable)")
    parser.add_argument("--name", action="append", default=[], help="row name of each --weights")
    parser.add_argument("--root", required=True, help="folder of OTB/GOT-10k-layout validation sequences")
    parser.add_argument("--stride", type=int, default=10, help="measure every N-th frame")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON file for the results")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (tracker settings)")
    args = parser.parse_args(argv)
    setup_logger(name="guided_tracking", abbrev_name="gt")
    torch.set_grad_enabled(False)
    records = load_folder(args.root)
    results = {}
    for i, weights in enumerate(args.weights):
        name = args.name[i] if i < len(args.name) else os.path.basename(os.path.dirname(os.path.abspath(weights)))
        cfg = get_guided_cfg()
        cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(["MODEL.WEIGHTS", weights] + list(args.opts))
        cfg.freeze()
        tracker = build_tracker(cfg)
        rng = np.random.default_rng(args.seed)
        per_seq = {r["seq_name"]: measure_sequence(tracker, r, args.stride, rng) for r in records}
        results[name] = {"summary": summarize(per_seq, tracker.collect_threshold),
                         "sequences": {s: {f"hit@{d}": float(np.mean(v[f"hit@{d}"])) for d in OFFSETS}
                                       for s, v in per_seq.items()}}
        print(f"[discrimination] {name}: {json.dumps(results[name]['summary'])}", flush=True)
    header = ["hit@" + str(d) for d in OFFSETS] + ["free med", "free>=coll", "free ctr", "L1 θ0→θ1", "Lt θ0→θ1"]
    print(f"\n{'model':<22}" + "".join(f"{h:>11}" for h in header))
    for name, r in results.items():
        s = r["summary"]
        cells = [f"{s['hit@' + str(d)]:.2f}" for d in OFFSETS] + [
            f"{s['free_median_score']:.2f}", f"{s['free_above_collect']:.2f}", f"{s['free_central']:.2f}",
            f"{s['loss_first_theta0']:.2f}→{s['loss_first_theta1']:.2f}",
            f"{s['loss_later_theta0']:.2f}→{s['loss_later_theta1']:.2f}"]
        print(f"{name[:22]:<22}" + "".join(f"{c:>11}" for c in cells))
    print("\nnormalised verification similarity q10/q50/q90: hit | miss | target-free")
    for name, r in results.items():
        s = r["summary"]
        print(f"{name[:22]:<22}" + " | ".join(" ".join(f"{v:.2f}" for v in s[k]) for k in
                                            ("sim_hit_q10_50_90", "sim_miss_q10_50_90", "sim_free_q10_50_90")))
    if args.output:
        atomic_write_json(args.output, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
