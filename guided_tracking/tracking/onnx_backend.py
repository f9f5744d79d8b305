"""The tracker's per-frame network in ONNX Runtime (TRACKER.BACKEND "onnxruntime").

``modeling/per_frame.py`` is exported once per (weights, config) to an ONNX file
(``export_per_frame``; cached under ``$XDG_CACHE_HOME/guided_tracking/onnx`` unless
TRACKER.ONNX_FILE names one) and run by ONNX Runtime on every frame: backbone, the
target's folded TGMs (graph inputs) and the RPN head. What depends on θ -- the ROI
box predictor or the SSD head, the first-frame steps and the online updates --
stays in torch, on the features ORT returns; so does the RPN's proposal selection
(top-k, NMS), which is cheap and dynamic. Without onnxruntime installed the torch
backend runs and says why.
"""
import hashlib
import logging
import os
import warnings
from typing import Dict, List, Optional

import numpy as np
import torch

from ..io import atomic_write_bytes
from ..modeling.per_frame import PerFrameNetwork

__all__ = ["OrtPerFrame", "export_per_frame", "onnxruntime_available", "default_onnx_path"]

logger = logging.getLogger(__name__)

OPSET = 17


def onnxruntime_available() -> Optional[str]:
    """None if onnxruntime can be imported, else why not (one line)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:
        return f"onnxruntime is not installed ({e}); `pip install onnxruntime` to use TRACKER.BACKEND onnxruntime"
    return None


def default_onnx_path(cfg, weights: str) -> str:
    """Cache file of a model's per-frame network: named by the weights' checksum and
    the config, so another model or setting never reuses it."""
    digest = hashlib.sha256()
    if weights and os.path.isfile(weights):
        with open(weights, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    digest.update(cfg.MODEL.dump().encode("utf-8"))
    digest.update(repr((cfg.INPUT.GUIDED.SEARCH_SIZE, cfg.TRACKER.FOLD_BN, cfg.TRACKER.PRE_NMS_TOPK, OPSET)).encode())
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "guided_tracking", "onnx")
    return os.path.join(cache, f"per_frame_{digest.hexdigest()[:16]}.onnx")


def _example_inputs(model, search_px: int, batch: int = 1) -> List[torch.Tensor]:
    """Images and a folded identity-like TGM per level (any values export the same graph)."""
    net = PerFrameNetwork(model)
    shapes = model.backbone.output_shape()
    inputs = [torch.rand(batch, 3, search_px, search_px, device=model.device) * 255]
    for name in net.tgm_levels:
        c = shapes[name].channels
        inputs += [torch.eye(c, device=model.device).expand(batch, c, c).contiguous(),
                   torch.zeros(batch, c, device=model.device)]
    return inputs


@torch.no_grad()
def export_per_frame(model, search_px: int, path: str) -> PerFrameNetwork:
    """Write ``model``'s per-frame network to ``path`` (ONNX, dynamic batch), atomically."""
    import io

    net = PerFrameNetwork(model).eval()
    names_in, names_out = net.input_names(), net.output_names()
    dynamic = {n: {0: "batch"} for n in names_in + names_out}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript-based exporter (dynamo=False): the torch.export-based one
        # needs the onnxscript package on top. Its deprecation notices, and the
        # tracer's note on detectron2's training-only empty-input branch of Conv2d,
        # say nothing about this graph (checked against torch: export_onnx.py).
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(net, tuple(_example_inputs(model, search_px)), buffer, input_names=names_in,
                          output_names=names_out, opset_version=OPSET, dynamic_axes=dynamic, dynamo=False)
    atomic_write_bytes(path, buffer.getvalue())
    logger.info(f"Per-frame network exported to {path} ({len(buffer.getvalue()) / 1e6:.1f} MB, opset {OPSET})")
    return net


class _RPNHeadOutputs(torch.nn.Module):
    """Stands in for the RPN head of a model tracked with ORT: returns the head
    outputs ORT computed for the current images (same layout as StandardRPNHead)."""

    def __init__(self):
        super().__init__()
        self.outputs = None

    def forward(self, features):
        if self.outputs is None:
            raise RuntimeError("the ONNX Runtime backend has not run on these images")
        # The first n images of the last ORT batch (the tracker re-reads a prefix,
        # e.g. its first crop of the first-frame batch).
        n = features[0].shape[0]
        if n > self.outputs[0][0].shape[0]:
            raise RuntimeError(f"RPN asked for {n} images, ONNX Runtime ran {self.outputs[0][0].shape[0]}")
        return [x[:n] for x in self.outputs[0]], [x[:n] for x in self.outputs[1]]


class OrtPerFrame:
    """Runs the exported per-frame network; installs itself in the model's RPN."""

    def __init__(self, model, onnx_path: str, threads: Optional[int] = None):
        import onnxruntime as ort

        self.net = PerFrameNetwork(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ORT's pool threads spin after each run by default; torch's θ head runs
        # right after on the same cores and would wait for them (issue 22's bench:
        # the torch part of a frame took twice as long next to spinning ORT threads).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        expected = set(self.net.input_names())
        found = {i.name for i in self.session.get_inputs()}
        if found != expected:
            raise ValueError(f"{onnx_path}: inputs {sorted(found)} do not match this model's {sorted(expected)} "
                             "(exported from another model or config?)")
        self.device = model.device
        rpn = getattr(model, "proposal_generator", None)
        self.rpn_outputs = None
        if rpn is not None:
            self.rpn_outputs = _RPNHeadOutputs()
            rpn.rpn_head = self.rpn_outputs

    def features(self, images: torch.Tensor, folded: List[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Guided features of ``images`` (N, 3, S, S, float 0-255) for the folded TGM
        inputs; the RPN head's outputs go to the model's RPN for its next forward."""
        feed = {name: np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
                for name, x in zip(self.net.input_names(), [images] + list(folded))}
        outputs = [torch.from_numpy(o).to(self.device) for o in self.session.run(None, feed)]
        k = len(self.net.feature_names)
        if self.rpn_outputs is not None:
            levels = len(self.net.rpn_features)
            self.rpn_outputs.outputs = (outputs[k:k + levels], outputs[k + levels:k + 2 * levels])
        return dict(zip(self.net.feature_names, outputs[:k]))
