"""Where the reference model lives, how it is loaded by default, and how a
training checkpoint becomes a small inference-only file."""
import hashlib
import io
import json
import logging
import os
import tempfile

import torch

from ..io import atomic_write_bytes

__all__ = ["REFERENCE_DIR", "REFERENCE_WEIGHTS", "REFERENCE_CARD", "REFERENCE_CONFIG", "RUNTIME_KEYS",
           "export_inference_checkpoint", "file_sha256", "get_reference_cfg", "load_model_card", "reference_fits"]

logger = logging.getLogger(__name__)

REFERENCE_DIR = os.path.dirname(os.path.abspath(__file__))
REFERENCE_WEIGHTS = os.path.join(REFERENCE_DIR, "reference_mnv2_FPN.pth")
REFERENCE_CARD = os.path.join(REFERENCE_DIR, "model_card.json")
# The recipe's config file in a source checkout (the card holds the merged
# config itself, so an installed package needs no configs/ folder).
REFERENCE_CONFIG = os.path.join(os.path.dirname(os.path.dirname(REFERENCE_DIR)), "configs", "CPU",
                                "reference_mnv2_FPN.yaml")
# Config keys that say where a run read and wrote, not what it trained: they
# come from the command line and differ between machines.
RUNTIME_KEYS = ("OUTPUT_DIR", "DATASETS.ROOT", "DATASETS.FOLDERS")


def load_model_card(path: str = REFERENCE_CARD) -> dict:
    """The machine-readable model card (``model_card.json``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model card {path!r} does not exist (guided_tracking/model_zoo is incomplete)")
    with open(path) as f:
        return json.load(f)


def get_reference_cfg(card_path: str = REFERENCE_CARD):
    """The config the reference model was trained with (from its card), with
    MODEL.WEIGHTS left empty: ``build_tracker`` then loads the reference weights.

    The tracker's settings (``TRACKER.*``) are the package defaults, not the card's:
    they are chosen on val after training (README, "Tracker settings") and move
    with the package; the card's TRACKER section records those of its training time."""
    from ..config import get_guided_cfg

    cfg = get_guided_cfg()
    tracker_defaults = cfg.TRACKER.clone()
    card = load_model_card(card_path)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(card["config_yaml"])
    try:
        cfg.merge_from_file(f.name)
    finally:
        os.remove(f.name)
    cfg.TRACKER = tracker_defaults
    cfg.MODEL.WEIGHTS = ""
    return cfg


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file (names weights in cards and result rows)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _state_dict_shapes(path: str) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: tuple(v.shape) for k, v in state.get("model", state).items()}


def reference_fits(model, weights_path: str = REFERENCE_WEIGHTS) -> bool:
    """True when ``weights_path`` exists and holds exactly ``model``'s tensors
    (names and shapes): then the reference weights can be its default."""
    if not os.path.isfile(weights_path):
        return False
    model_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return _state_dict_shapes(weights_path) == model_shapes


def export_inference_checkpoint(checkpoint_path: str, output_path: str, fp16: bool = True) -> dict:
    """Write the model tensors of a training checkpoint (no optimizer or
    scheduler state), floats in fp16 when ``fp16``; atomically (a temporary file
    renamed into place). Returns what was written, for the model card."""
    if not os.path.isfile(checkpoint_path):
        raise FileNotFoundError(f"checkpoint {checkpoint_path!r} does not exist")
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    if "model" not in checkpoint:
        raise ValueError(f"{checkpoint_path!r} has no 'model' entry: not a detectron2 training checkpoint")
    state = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous()
             for k, v in checkpoint["model"].items()}
    out = {"model": state, "iteration": int(checkpoint.get("iteration", -1)), "__author__": "guided-tracking",
           "dtype": "float16" if fp16 else "float32"}
    buffer = io.BytesIO()
    torch.save(out, buffer)
    atomic_write_bytes(output_path, buffer.getvalue())
    return {"iteration": out["iteration"], "dtype": out["dtype"], "bytes": os.path.getsize(output_path),
            "tensors": len(state)}
