"""Export a guided tracker's per-frame network to ONNX and check it against torch.

    python -m guided_tracking.export_onnx --output per_frame.onnx             # the reference model
    python -m guided_tracking.export_onnx --config-file configs/CPU/guided_ssd_mnv2_FPN.yaml \\
        --output ssd.onnx --check-sequence ../shared/data/sequences/Biker MODEL.WEIGHTS model_final.pth

The graph (``modeling/per_frame.py``) holds the pixel normalisation, the backbone, the
target's folded TGMs as inputs (one file serves every target) and, for a two-stage
model, the RPN head; batch size is dynamic. The check runs torch and ONNX Runtime on
random crops and, with ``--check-sequence``, on search crops of a real sequence
(guided by its first-frame target), and prints the largest absolute difference of
every output. Track with it: ``TRACKER.BACKEND onnxruntime TRACKER.ONNX_FILE FILE``.
"""
import argparse
import logging
import sys

import numpy as np
import torch

logger = logging.getLogger("guided_tracking")


def check_outputs(tracker, crops, frame_format="RGB"):
    """{output name: max |torch - ORT|} on ``crops`` guided by the tracker's target."""
    from .modeling.per_frame import PerFrameNetwork

    net = tracker.per_frame.net
    raw = torch.stack([tracker._to_tensor(c, frame_format) for c in crops]).float()
    guidance = tracker.model.backbone.index_guidance(tracker.state.guidance,
                                                     torch.zeros(len(crops), dtype=torch.long))
    folded = PerFrameNetwork.folded_inputs(guidance, net.tgm_levels)
    with torch.no_grad():  # the same module that was exported (it holds the real RPN head)
        reference = net.eval()(raw, *folded)
    feed = {n: x.numpy().astype(np.float32) for n, x in zip(net.input_names(), [raw] + folded)}
    ours = tracker.per_frame.session.run(None, feed)
    return {name: float(np.abs(o - r.numpy()).max()) for name, o, r in zip(net.output_names(), ours, reference)}


def main(argv=None):
    from detectron2.utils.logger import setup_logger

    from . import get_guided_cfg
    from .data.crop import jitter_geometry
    from .data.datasets import load_folder
    from .frames import load_rgb_frame
    from .model_zoo import get_reference_cfg
    from .tracking.build import build_tracker

    parser = argparse.ArgumentParser(prog="python -m guided_tracking.export_onnx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default=None, help="model config (default: the reference model's)")
    parser.add_argument("--output", required=True, help="the ONNX file to write")
    parser.add_argument("--check-sequence", default=None,
                        help="an OTB/GOT-10k-layout sequence folder whose search crops check the export")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides (MODEL.WEIGHTS ...)")
    args = parser.parse_args(argv)
    setup_logger(name="guided_tracking", abbrev_name="gt")
    if args.config_file:
        cfg = get_guided_cfg()
        cfg.merge_from_file(args.config_file)
    else:
        cfg = get_reference_cfg()
    cfg.merge_from_list(list(args.opts) + ["TRACKER.BACKEND", "onnxruntime", "TRACKER.ONNX_FILE", ""])
    cfg.freeze()
    from .tracking.onnx_backend import OrtPerFrame, export_per_frame, onnxruntime_available

    why_not = onnxruntime_available()
    if why_not:
        print(f"error: {why_not}", file=sys.stderr)
        return 2
    tracker = build_tracker(_torch_cfg(cfg))
    export_per_frame(tracker.model, cfg.INPUT.GUIDED.SEARCH_SIZE, args.output)
    tracker.per_frame = OrtPerFrame(tracker.model, args.output)
    rng = np.random.default_rng(0)
    if args.check_sequence:
        record = load_folder(args.check_sequence)[0]
        frames = [np.asarray(load_rgb_frame(p)) for p in record["file_names"][::max(1, len(record["file_names"]) // 8)]]
        boxes = np.asarray(record["boxes_xywh"])[::max(1, len(record["file_names"]) // 8)]
    else:
        frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)]
        boxes = np.array([[120.0, 90.0, 40.0, 50.0]])
    tracker.initialize(frames[0], boxes[0], frame_format="RGB")
    random_crops = [rng.integers(0, 256, (tracker.search_px, tracker.search_px, 3), dtype=np.uint8) for _ in range(2)]
    real_crops = [jitter_geometry(b, rng, 0.5, 0.2, tracker.search_context, tracker.search_px).crop_image(f)
                  for f, b in zip(frames, boxes) if np.all(np.isfinite(b))]
    for label, crops in (("random crops", random_crops), ("search crops", real_crops)):
        diffs = check_outputs(tracker, crops)
        print(f"{label} ({len(crops)}): max |torch - onnxruntime| per output: "
              + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    print(f"Wrote {args.output}: track with TRACKER.BACKEND onnxruntime TRACKER.ONNX_FILE {args.output}")
    return 0


def _torch_cfg(cfg):
    """The same config on the torch backend (the export runs the torch model)."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.TRACKER.BACKEND = "torch"
    cfg.TRACKER.CHANNELS_LAST = False
    cfg.freeze()
    return cfg


if __name__ == "__main__":
    sys.exit(main())
