"""Build a GuidedTracker (model + weights) from a config."""
import logging
import os

from detectron2.modeling import build_model

from ..engine.checkpoint import GuidedCheckpointer
from .tracker import GuidedTracker

__all__ = ["build_tracker", "make_got10k_tracker"]

logger = logging.getLogger(__name__)


def build_tracker(cfg, device=None) -> GuidedTracker:
    """GuidedTracker with MODEL.WEIGHTS loaded (``device`` overrides MODEL.DEVICE)."""
    if device is not None and device != cfg.MODEL.DEVICE:
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.DEVICE = device
        cfg.freeze()
    weights = cfg.MODEL.WEIGHTS
    if weights and not weights.startswith(("detectron2://", "http://", "https://")) and not os.path.isfile(weights):
        raise FileNotFoundError(f"MODEL.WEIGHTS: checkpoint {weights!r} does not exist")
    if not weights:
        logger.warning("MODEL.WEIGHTS is empty: tracking with an untrained model")
    model = build_model(cfg)
    if weights:
        GuidedCheckpointer(model).load(weights)
    return GuidedTracker(cfg, model)


def make_got10k_tracker(config_file: str, opts=(), name: str = "GuidedRCNN", device=None):
    """Picklable tracker factory for benchmark workers: cfg file + opts -> got10k Tracker."""
    from ..config import get_guided_cfg
    from .got10k_tracker import Got10kGuidedTracker

    cfg = get_guided_cfg()
    cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    cfg.freeze()
    return Got10kGuidedTracker(build_tracker(cfg, device=device), name=name)
