"""Compatibility shims and registration on import (guided_tracking.compat)."""
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import warnings
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import guided_tracking
from guided_tracking import compat

COMPAT_PATH = compat.__file__


def _run(code: str, pythonpath=None, timeout=120):
    """Run ``code`` in a fresh interpreter; return its last stdout line parsed as JSON."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# compat.py loaded on its own (no package __init__, hence no torch/detectron2 import),
# so the fake packages on PYTHONPATH are the only numpy/detectron2 it sees.
_LOAD_COMPAT = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("gt_compat_under_test", {COMPAT_PATH!r})
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
"""


def test_import_alone_registers_every_component():
    got = _run("""
        import json
        import guided_tracking
        from detectron2.modeling import (BACKBONE_REGISTRY, META_ARCH_REGISTRY,
                                         PROPOSAL_GENERATOR_REGISTRY, ROI_HEADS_REGISTRY)
        names = lambda reg: sorted(k for k, _ in reg)
        print(json.dumps({"backbone": names(BACKBONE_REGISTRY), "roi": names(ROI_HEADS_REGISTRY),
                          "arch": names(META_ARCH_REGISTRY), "rpn": names(PROPOSAL_GENERATOR_REGISTRY)}))
    """)
    assert {"GuidedBackbone", "build_mobilenetv2_backbone", "build_mobilenetv2_fpn_backbone"} <= set(got["backbone"])
    assert "MetaROIHeads" in got["roi"]
    assert "GuidedRCNN" in got["arch"]
    assert "GuidedRPN" in got["rpn"]


def test_numpy_alias_already_present_is_left_alone(tmp_path):
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text("int = 'the-real-int'\n")
    got = _run(_LOAD_COMPAT + """
import numpy
shims = compat.apply_compat()
print(json.dumps({"shims": shims, "int": numpy.int, "float": repr(numpy.float), "file": numpy.__file__}))
""", pythonpath=tmp_path)
    assert got["file"].startswith(str(tmp_path))  # the fake numpy was the one patched
    assert got["int"] == "the-real-int"
    assert "numpy.int" not in got["shims"]
    # Positive control in the same run: a missing alias is added.
    assert "numpy.float" in got["shims"] and got["float"] == "<class 'float'>"


def _fake_detectron2(root, with_c: bool):
    pkg = root / "detectron2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    if with_c:  # a compiled extension file, as a source build leaves it (never imported here)
        (pkg / ("_C" + importlib.machinery.EXTENSION_SUFFIXES[0])).write_bytes(b"")
    return pkg


_REPORT_C = _LOAD_COMPAT + """
shims = compat.apply_compat()
placeholder = sys.modules.get("detectron2._C")
error = None
if placeholder is not None:
    try:
        placeholder.ROIAlignRotated_forward
    except ImportError as e:
        error = str(e)
print(json.dumps({"shims": shims, "installed": placeholder is not None,
                  "type": type(placeholder).__name__, "error": error}))
"""


def test_real_c_extension_is_not_shadowed(tmp_path):
    _fake_detectron2(tmp_path, with_c=True)
    got = _run(_REPORT_C, pythonpath=tmp_path)
    assert got["installed"] is False
    assert "detectron2._C placeholder" not in got["shims"]


def test_missing_c_extension_gets_placeholder(tmp_path):
    _fake_detectron2(tmp_path, with_c=False)
    got = _run(_REPORT_C, pythonpath=tmp_path)
    assert got["installed"] is True and got["type"] == "_MissingCExtension"
    assert "detectron2._C placeholder" in got["shims"]
    assert "detectron2._C.ROIAlignRotated_forward is unavailable" in got["error"]


def test_placeholder_raises_clear_import_error():
    module = compat._MissingCExtension("detectron2._C")
    with pytest.raises(ImportError, match=r"detectron2\._C\.deform_conv_forward is unavailable.*C\+\+"):
        module.deform_conv_forward
    # Dunder look-ups stay AttributeErrors so the import machinery and hasattr work.
    assert not hasattr(module, "__path__")


def test_placeholder_in_this_environment():
    import detectron2._C as C

    if compat._real_c_extension_exists():
        assert not isinstance(C, compat._MissingCExtension)
        return
    assert isinstance(C, compat._MissingCExtension)
    assert "detectron2._C placeholder" in compat.applied_shims
    # detectron2 code that needs the extension imports fine and fails clearly on use.
    from detectron2.evaluation import fast_eval_api

    with pytest.raises(ImportError, match="without its C\\+\\+/CUDA extension"):
        fast_eval_api._C.COCOevalAccumulate


def test_shims_match_the_installed_stack():
    # Each applied numpy/Pillow shim exists because the library lacked it.
    for shim in compat.applied_shims:
        if shim.startswith("numpy."):
            assert np.lib.NumpyVersion(np.__version__) >= "1.24.0"
            assert getattr(np, shim.split(".")[1]) is getattr(__import__("builtins"), shim.split(".")[1])
    if "PIL.Image.LINEAR" in compat.applied_shims:
        assert Image.LINEAR == Image.BILINEAR
    assert hasattr(np, "int") and hasattr(Image, "LINEAR")


def test_apply_compat_is_idempotent(monkeypatch):
    before = list(compat.applied_shims)
    assert compat.apply_compat() is compat.applied_shims
    assert compat.applied_shims == before
    # Even with the once-flag cleared, nothing is re-applied: every shim checks first.
    monkeypatch.setattr(compat.apply_compat, "_done", False)
    compat.apply_compat()
    assert compat.applied_shims == before
    assert guided_tracking.apply_compat is compat.apply_compat


def test_tracking_runs_silently_under_warnings_as_errors():
    """detectron2 v0.6's two notices under today's torch (torch.jit.script deprecated,
    torch.meshgrid without indexing) are silenced where they arise: importing the
    package and tracking with the reference model raise none, even with -W error."""
    code = """
    import json, warnings
    warnings.simplefilter("error")
    import numpy as np
    import guided_tracking
    from guided_tracking.model_zoo import get_reference_cfg
    from guided_tracking.tracking import build_tracker
    tracker = build_tracker(get_reference_cfg())
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    tracker.initialize(frame, [40, 30, 30, 40])
    box = tracker.track(frame)
    print(json.dumps({"box": [float(v) for v in box], "shims": guided_tracking.compat.applied_shims}))
    """
    out = _run(code, timeout=300)
    assert len(out["box"]) == 4 and all(np.isfinite(out["box"]))


def test_anchor_grid_with_explicit_indexing_is_the_same_grid():
    import torch

    for size, stride, offset in (((3, 5), 8, 0.0), ((4, 2), 16, 0.5)):
        x, y = compat._grid_offsets_ij(size, stride, offset, torch.device("cpu"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ys, xs = torch.meshgrid(torch.arange(offset * stride, size[0] * stride, stride, dtype=torch.float32),
                                    torch.arange(offset * stride, size[1] * stride, stride, dtype=torch.float32))
        assert torch.equal(x, xs.reshape(-1)) and torch.equal(y, ys.reshape(-1))
