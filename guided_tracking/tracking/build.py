"""Build a GuidedTracker (model + weights) from a config."""
import logging
import os

from detectron2.modeling import build_model

from ..engine.checkpoint import GuidedCheckpointer
from ..modeling.rewrites import cache_anchor_grids, fold_frozen_batchnorm, use_channels_last
from .tracker import GuidedTracker

__all__ = ["build_tracker", "make_got10k_tracker"]

logger = logging.getLogger(__name__)


def build_tracker(cfg, device=None) -> GuidedTracker:
    """GuidedTracker with MODEL.WEIGHTS loaded (``device`` overrides MODEL.DEVICE),
    TRACKER.PRE_NMS_TOPK RPN candidates per level,
    its model rewritten for inference (TRACKER.FOLD_BN, TRACKER.CHANNELS_LAST,
    anchor grids cached: ``modeling/rewrites.py``).

    Empty MODEL.WEIGHTS: the shipped reference model
    (``guided_tracking/model_zoo``) when the config builds the model it fits,
    else an untrained model (with a warning). The log names the weights used."""
    if device is not None and device != cfg.MODEL.DEVICE:
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = device
        cfg.freeze()
    weights = cfg.MODEL.WEIGHTS
    if weights and not weights.startswith(("detectron2://", "http://", "https://")) and not os.path.isfile(weights):
        raise FileNotFoundError(f"MODEL.WEIGHTS: checkpoint {weights!r} does not exist")
    model = build_model(cfg)
    if not weights:
        from ..model_zoo import REFERENCE_WEIGHTS, reference_fits

        if reference_fits(model):
            weights = REFERENCE_WEIGHTS
            logger.info(f"MODEL.WEIGHTS is empty: using the reference model {weights} "
                        "(see MODEL_CARD.md beside it; not for OTB/UAV123/DTB70/VOT/UAVDT/LaSOT results)")
        else:
            logger.warning("MODEL.WEIGHTS is empty and the reference model does not fit this config's model: "
                           "tracking with an UNTRAINED model (give MODEL.WEIGHTS)")
    else:
        logger.info(f"Tracking with weights {weights}")
    if weights:
        GuidedCheckpointer(model).load(weights)
    rpn = getattr(model, "proposal_generator", None)
    if cfg.TRACKER.PRE_NMS_TOPK > 0 and rpn is not None and hasattr(rpn, "pre_nms_topk"):
        rpn.pre_nms_topk[False] = min(rpn.pre_nms_topk[False], cfg.TRACKER.PRE_NMS_TOPK)
    # This model only tracks: rewrite it for inference (same boxes, less work).
    if cfg.TRACKER.FOLD_BN:
        folded = fold_frozen_batchnorm(model.eval())
        logger.info(f"TRACKER.FOLD_BN: folded {folded} frozen batch norms into their convolutions")
    if cfg.TRACKER.BACKEND not in ("torch", "onnxruntime"):
        raise ValueError(f"TRACKER.BACKEND must be 'torch' or 'onnxruntime', got {cfg.TRACKER.BACKEND!r}")
    per_frame = _onnxruntime_per_frame(cfg, model, weights) if cfg.TRACKER.BACKEND == "onnxruntime" else None
    if cfg.TRACKER.CHANNELS_LAST and per_frame is None:
        use_channels_last(model)
    cache_anchor_grids(model)
    tracker = GuidedTracker(cfg, model)
    tracker.per_frame = per_frame
    return tracker


def _onnxruntime_per_frame(cfg, model, weights):
    """The per-frame network in ONNX Runtime (TRACKER.ONNX_FILE, else exported to the
    cache once), or None with a warning saying why the torch backend runs."""
    from .onnx_backend import OrtPerFrame, default_onnx_path, export_per_frame, onnxruntime_available

    why_not = onnxruntime_available()
    if why_not is None and not cfg.TRACKER.FOLD_TGM:
        why_not = "it needs TRACKER.FOLD_TGM True (the folded TGMs are its inputs)"
    if why_not is not None:
        logger.warning(f"TRACKER.BACKEND onnxruntime: {why_not}; tracking with the torch backend")
        return None
    path = cfg.TRACKER.ONNX_FILE or default_onnx_path(cfg, weights)
    if cfg.TRACKER.ONNX_FILE and not os.path.isfile(path):
        raise FileNotFoundError(f"TRACKER.ONNX_FILE: {path!r} does not exist (write it with "
                                "python -m guided_tracking.export_onnx)")
    if not os.path.isfile(path):
        export_per_frame(model, cfg.INPUT.GUIDED.SEARCH_SIZE, path)
    logger.info(f"TRACKER.BACKEND onnxruntime: per-frame network {path}")
    return OrtPerFrame(model, path)


def make_got10k_tracker(config_file: str, opts=(), name: str = "GuidedRCNN", device=None):
    """Picklable tracker factory for benchmark workers: cfg file + opts -> got10k Tracker.

    ``config_file`` None: the reference model's config (and weights, unless
    ``opts`` set MODEL.WEIGHTS)."""
    from ..config import get_guided_cfg
    from .got10k_tracker import Got10kGuidedTracker

    if config_file is None:
        from ..model_zoo import get_reference_cfg

        cfg = get_reference_cfg()
    else:
        cfg = get_guided_cfg()
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return Got10kGuidedTracker(build_tracker(cfg, device=device), name=name)
