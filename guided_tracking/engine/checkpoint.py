"""Checkpointer that initialises a guided model from any detectron2 detector."""
import logging

from detectron2.checkpoint import DetectionCheckpointer

from ..modeling.guided_backbone import plain_backbone_key_to_guided

__all__ = ["GuidedCheckpointer"]

logger = logging.getLogger(__name__)


class GuidedCheckpointer(DetectionCheckpointer):
    """DetectionCheckpointer that maps a plain detector's ``backbone.*`` weights
    onto the wrapped ``backbone.body.*`` of GuidedBackbone, and prints what was
    loaded and what was not (the TGMs are new, and a COCO predictor's 81-class
    layers do not fit the 1-class target head)."""

    def _load_model(self, checkpoint):
        model_keys = set(self.model.state_dict().keys())
        state = checkpoint["model"]
        # Rename here too (GuidedBackbone also does it on load) so that fvcore's
        # shape check and the summary below see the final names.
        renamed = {}
        for key, value in state.items():
            body_key = plain_backbone_key_to_guided(key)
            renamed[body_key if key not in model_keys and body_key in model_keys else key] = value
        checkpoint["model"] = renamed
        loaded_keys = set(renamed) & model_keys
        incompatible = super()._load_model(checkpoint)
        shape_mismatch = {k for k, *_ in incompatible.incorrect_shapes}
        loaded = len(loaded_keys - shape_mismatch)
        missing = sorted(model_keys - loaded_keys)
        tgm_missing = [k for k in missing if ".tgms." in k]
        logger.info(
            f"Checkpoint summary: {loaded}/{len(model_keys)} model tensors loaded; "
            f"{len(shape_mismatch)} skipped for shape ({sorted(shape_mismatch)}); "
            f"{len(missing)} not in the checkpoint ({len(tgm_missing)} of them TGM, freshly initialised); "
            f"{len(incompatible.unexpected_keys)} checkpoint tensors unused."
        )
        return incompatible
