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
    if cfg.TRACKER.CHANNELS_LAST:
        use_channels_last(model)
    cache_anchor_grids(model)
    return GuidedTracker(cfg, model)


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
