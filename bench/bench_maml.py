#!/usr/bin/env python
"""Cost of MAML training in GuidedRCNN, against a plain detectron2 detector.

Measures (CPU by default, median of --runs after --warmup):

1. one training step (forward + backward) of GuidedRCNN on B triplets (exemplar +
   support + query, the inner loop of Eq. 1 included) vs one step of a plain
   detectron2 GeneralizedRCNN with the same wrapped backbone, RPN and box head on the
   same 2B search images (support and query frames). Target: ratio <= 1.5x.
   A GuidedRCNN step with MODEL.META.ENABLED False is printed too (guidance cost alone).
2. the inner loop batched over the B triplets (``model.adapt`` with batched θ, one
   autograd call per step) vs a Python loop of ``model.adapt`` per triplet.
3. a GuidedRCNN step with first-order vs second-order MAML.

Usage: .venv/bin/python bench/bench_maml.py [--triplets 8] [--search-px 256] [--runs 5]
"""
import argparse
import os
import statistics
import sys
import time

import torch

# Runnable as `python bench/<script>.py` from a clone, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import guided_tracking  # noqa: E402,F401  (shims + registration)
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from guided_tracking import get_guided_cfg
from guided_tracking.modeling import batch_params
from guided_tracking.modeling.meta_roi_heads import proposals_task_index

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=os.path.join(REPO_ROOT, "configs/CPU/guided_rcnn_mnv2_FPN.yaml"))
    p.add_argument("--triplets", type=int, default=8, help="B: triplets per step (2B search images)")
    p.add_argument("--search-px", type=int, default=256, help="side of the support/query crops")
    p.add_argument("--runs", type=int, default=5, help="timed runs (median reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--plain-rpn", default="GuidedRPN", choices=["GuidedRPN", "RPN"],
                   help="proposal generator of the plain detector")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p.parse_args(argv)


def make_cfg(args):
    cfg = get_guided_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu"] + list(args.opts))
    return cfg


def plain_cfg(cfg, rpn_name):
    """The same detector without guidance or MAML: detectron2's own classes."""
    plain = cfg.clone()
    plain.merge_from_list([
        "MODEL.META_ARCHITECTURE", "GeneralizedRCNN",
        "MODEL.BACKBONE.NAME", cfg.MODEL.GUIDED.BACKBONE_NAME,
        "MODEL.ROI_HEADS.NAME", "StandardROIHeads",
        "MODEL.PROPOSAL_GENERATOR.NAME", rpn_name,
    ])
    return plain


def make_triplets(num, search_px, exemplar_px, seed):
    g = torch.Generator().manual_seed(seed)

    def frame():
        side = ((0.2 + 0.3 * torch.rand(2, generator=g)) * search_px).round()
        xy = (torch.rand(2, generator=g) * (search_px - side)).floor()
        inst = Instances((search_px, search_px))
        inst.gt_boxes = Boxes(torch.cat([xy, xy + side])[None])
        inst.gt_classes = torch.zeros(1, dtype=torch.long)
        return {"image": torch.rand((3, search_px, search_px), generator=g) * 255, "instances": inst}

    q = exemplar_px / 4
    return [{"exemplar": torch.rand((3, exemplar_px, exemplar_px), generator=g) * 255,
             "exemplar_box": torch.tensor([q, q, 3 * q, 3 * q]),
             "support": frame(), "query": frame()} for _ in range(num)]


def timed(fns, runs, warmup):
    """Median/min/max seconds of each function. Runs are interleaved (a, b, a, b, ...)
    so that load from other processes on a shared machine hits all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [(statistics.median(ts), min(ts), max(ts)) for ts in times]


def train_step(model, inputs, seed):
    def step():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        with EventStorage(0):
            losses = model(inputs)
        sum(losses.values()).backward()
    return step


def support_rois(model, triplets, seed):
    """ROI inputs and labelled proposals of the support frames, as GuidedRCNN.forward builds them."""
    heads = model.roi_heads
    with torch.no_grad(), EventStorage(0):
        guidance = model.encode_targets([t["exemplar"] for t in triplets],
                                        torch.stack([t["exemplar_box"] for t in triplets]))
        images = model.normalize([t["support"]["image"] for t in triplets])
        gt = [t["support"]["instances"] for t in triplets]
        features = model.guided_features(images, guidance)
        proposals, _ = model.proposal_generator(images, features, gt)
        torch.manual_seed(seed)
        proposals = heads.label_and_sample_proposals(proposals, gt)
        x = heads.roi_features(features, proposals)
    # A leaf that requires grad: the inner loop builds its second-order graph as in training.
    return x.detach().requires_grad_(True), proposals


def fmt(name, stats):
    med, lo, hi = stats
    return f"  {name:<46s} {med * 1000:9.1f} ms   (min {lo * 1000:.1f}, max {hi * 1000:.1f})"


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = make_cfg(args)
    B, S = args.triplets, args.search_px
    exemplar_px = max(cfg.MODEL.GUIDED.EXEMPLAR_SIZES)

    torch.manual_seed(args.seed)
    guided = build_model(cfg).train()
    torch.manual_seed(args.seed)
    plain = build_model(plain_cfg(cfg, args.plain_rpn)).train()
    # Same weights where the two share modules (backbone body, RPN, box head/predictor).
    shared = {k.replace("backbone.body.", "backbone."): v for k, v in guided.state_dict().items()
              if not k.startswith("backbone.tgms.")}
    missing = plain.load_state_dict(shared, strict=False)
    assert not missing.missing_keys, missing.missing_keys

    triplets = make_triplets(B, S, exemplar_px, args.seed)
    frames = [t["support"] for t in triplets] + [t["query"] for t in triplets]
    steps = guided.inner_steps

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, "
          f"load avg {os.getloadavg()[0]:.2f}")
    print(f"config {os.path.relpath(args.config_file, REPO_ROOT)}: body {cfg.MODEL.GUIDED.BACKBONE_NAME}, "
          f"{B} triplets = {2 * B} search images at {S} px, exemplars {list(cfg.MODEL.GUIDED.EXEMPLAR_SIZES)} px, "
          f"inner steps {steps}, α {guided.inner_lr}, ROIs/image {cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE}")
    print(f"median of {args.runs} interleaved runs after {args.warmup} warm-up "
          "(on a shared machine the min is the less noisy estimate)\n")

    # 1. GuidedRCNN (MAML) step vs plain detectron2 step on the same search images.
    print("1. training step (forward + backward)")
    def guided_no_inner():
        guided.inner_steps = 0
        try:
            train_step(guided, triplets, args.seed)()
        finally:
            guided.inner_steps = steps

    t_plain, t_maml, t_guided = timed(
        [train_step(plain, frames, args.seed), train_step(guided, triplets, args.seed), guided_no_inner],
        args.runs, args.warmup)
    print(fmt(f"plain GeneralizedRCNN ({args.plain_rpn}), {2 * B} images", t_plain))
    print(fmt(f"GuidedRCNN, MAML ({'1st' if guided.first_order else '2nd'} order)", t_maml))
    print(fmt("GuidedRCNN, no inner loop (META.ENABLED False)", t_guided))
    ratio = t_maml[0] / t_plain[0]
    print(f"  ratio MAML / plain: {ratio:.2f}x median, {t_maml[1] / t_plain[1]:.2f}x min "
          f"(target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'} on the median); "
          f"guidance alone {t_guided[0] / t_plain[0]:.2f}x median, {t_guided[1] / t_plain[1]:.2f}x min\n")

    # 2. Batched inner loop vs one model.adapt per triplet.
    print(f"2. inner loop, {max(steps, 1)} step(s), second order, {B} tasks")
    x, proposals = support_rois(guided, triplets, args.seed)
    index = proposals_task_index(proposals)
    theta0 = guided.theta0()
    offsets = [0]
    for p in proposals:
        offsets.append(offsets[-1] + len(p))
    n_steps = max(steps, 1)

    def batched():
        guided.adapt(x, proposals, batch_params(theta0, B), n_steps, index, B)

    def looped():
        for b in range(B):
            guided.adapt(x[offsets[b]:offsets[b + 1]], [proposals[b]], theta0, n_steps)

    t_batched, t_looped = timed([batched, looped], args.runs, args.warmup)
    print(fmt(f"batched model.adapt ({x.shape[0]} ROIs)", t_batched))
    print(fmt("Python loop of model.adapt per triplet", t_looped))
    print(f"  ratio loop / batched: {t_looped[0] / t_batched[0]:.2f}x median, {t_looped[1] / t_batched[1]:.2f}x min\n")

    # 3. First- vs second-order MAML step.
    print("3. GuidedRCNN training step, first vs second order")
    def with_order(first):
        def step():
            saved = guided.first_order
            guided.first_order = first
            try:
                train_step(guided, triplets, args.seed)()
            finally:
                guided.first_order = saved
        return step

    t_second, t_first = timed([with_order(False), with_order(True)], args.runs, args.warmup)
    print(fmt("second order", t_second))
    print(fmt("first order", t_first))
    print(f"  ratio second / first: {t_second[0] / t_first[0]:.2f}x median, {t_second[1] / t_first[1]:.2f}x min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
