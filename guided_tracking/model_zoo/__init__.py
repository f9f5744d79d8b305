"""The shipped reference model: a trained CPU tracker that works out of the box.

``reference_mnv2_FPN.pth`` (inference-only weights) and its model card
(``MODEL_CARD.md`` for people, ``model_card.json`` for code and tests) sit in
this folder. ``build_tracker`` / ``track_net.py`` load the weights when
``MODEL.WEIGHTS`` is empty and the config builds a model they fit.

    from guided_tracking.model_zoo import get_reference_cfg
    from guided_tracking.tracking import build_tracker
    tracker = build_tracker(get_reference_cfg())   # MODEL.WEIGHTS empty -> reference weights

The training sequences are test sequences of OTB, UAV123, DTB70, VOT, UAVDT and
LaSOT (see the card): never report this model's results on those benchmarks.
"""
from .reference import (
    REFERENCE_CONFIG,
    REFERENCE_DIR,
    REFERENCE_WEIGHTS,
    export_inference_checkpoint,
    get_reference_cfg,
    load_model_card,
    reference_fits,
)

__all__ = ["REFERENCE_CONFIG", "REFERENCE_DIR", "REFERENCE_WEIGHTS", "export_inference_checkpoint",
           "get_reference_cfg", "load_model_card", "reference_fits"]
