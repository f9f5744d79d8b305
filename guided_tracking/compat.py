"""Compatibility shims that let detectron2 v0.6 import on today's stack.

Applied once by ``import guided_tracking`` before any detectron2 import. Each shim
is added only when what it provides is missing, so a full upstream detectron2 build
(with its compiled ``_C``) on an older numpy/Pillow runs exactly as it would
without this module.

- ``detectron2._C``: the PyPI source distribution ships no C++ sources. Only
  deformable conv, rotated boxes/ROIAlignRotated and the fast COCO evaluator use
  it; ROIAlign and NMS come from torchvision. A placeholder module whose
  attributes raise a clear error keeps everything else importable.
- numpy 2 removed ``np.int/float/str/object`` (detectron2 v0.6 uses them, e.g. in
  ``data/build.py``); Pillow 10 removed ``Image.LINEAR`` (``ExtentTransform``).
- Two notices today's torch gives about detectron2 v0.6's code, silenced where they
  arise and nowhere else, so a user's log holds this project's lines and real
  problems: ``torch.jit.script`` is deprecated (fvcore's focal loss and detectron2's
  box coders are scripted when ``detectron2.modeling`` is first imported: that
  import runs under a filter for exactly this message), and ``torch.meshgrid``
  without ``indexing=`` (detectron2's anchor grid: replaced by the same grid with
  the explicit ``indexing="ij"``, the old default, only when upstream lacks it).
"""
import builtins
import importlib.machinery
import importlib.util
import inspect
import sys
import types
import warnings

__all__ = ["apply_compat", "applied_shims"]

_NUMPY_ALIASES = {"int": builtins.int, "float": builtins.float, "str": builtins.str, "object": builtins.object,
                  "bool": builtins.bool}
applied_shims = []


class _MissingCExtension(types.ModuleType):
    """Placeholder for ``detectron2._C``: importable, fails loudly on use.

    The three introspection functions that detectron2's ``collect_env_info``
    (printed by ``default_setup``) calls answer honestly instead of failing.
    """

    @staticmethod
    def get_compiler_version():
        return "not built (detectron2 installed without _C)"

    @staticmethod
    def get_cuda_version():
        return "not built"

    @staticmethod
    def has_cuda():
        return False

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            f"detectron2._C.{name} is unavailable: this detectron2 was installed without its C++/CUDA "
            "extension (deformable conv, rotated boxes and the fast COCO evaluator need it). "
            "Build detectron2 from source to use them."
        )


def _real_c_extension_exists() -> bool:
    spec = importlib.util.find_spec("detectron2")
    if spec is None or not spec.submodule_search_locations:
        return False
    for path in spec.submodule_search_locations:
        if importlib.machinery.PathFinder.find_spec("_C", [path]) is not None:
            return True
    return False


def _patch_detectron2_c():
    if "detectron2._C" in sys.modules or _real_c_extension_exists():
        return
    if importlib.util.find_spec("detectron2") is None:
        return
    module = _MissingCExtension("detectron2._C")
    module.__file__ = None
    sys.modules["detectron2._C"] = module
    applied_shims.append("detectron2._C placeholder")


def _patch_numpy():
    import numpy as np

    for name, value in _NUMPY_ALIASES.items():
        # numpy 1.x keeps (deprecated) aliases: leave them alone. ``np.bool`` is
        # a real numpy type again in numpy 2, so it is never touched there.
        try:
            with warnings.catch_warnings():  # numpy 2.x warns on the removed names
                warnings.simplefilter("ignore")
                getattr(np, name)
        except AttributeError:
            setattr(np, name, value)
            applied_shims.append(f"numpy.{name}")


def _patch_pillow():
    from PIL import Image

    if not hasattr(Image, "LINEAR"):
        Image.LINEAR = Image.BILINEAR
        applied_shims.append("PIL.Image.LINEAR")


def _grid_offsets_ij(size, stride: int, offset: float, device):
    """detectron2's ``_create_grid_offsets`` with ``torch.meshgrid(..., indexing="ij")``
    (the behaviour it had by default): the same grid, without torch's notice."""
    import torch

    grid_height, grid_width = size
    shifts_x = torch.arange(offset * stride, grid_width * stride, step=stride, dtype=torch.float32, device=device)
    shifts_y = torch.arange(offset * stride, grid_height * stride, step=stride, dtype=torch.float32, device=device)
    shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
    return shift_x.reshape(-1), shift_y.reshape(-1)


def _quiet_detectron2_notices():
    if importlib.util.find_spec("detectron2") is None:
        return
    try:
        with warnings.catch_warnings():
            # torch issues it from inside torch.jit.script, so a module= filter cannot
            # name the callers; the filter lives only as long as this import.
            warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", FutureWarning)
            import detectron2.modeling  # noqa: F401  (fvcore.nn comes along)
    except Exception:  # a broken stack: the caller's own import of detectron2 reports it
        return
    from detectron2.modeling import anchor_generator

    try:
        explicit = "indexing" in inspect.getsource(anchor_generator._create_grid_offsets)
    except (OSError, TypeError):
        explicit = False
    if not explicit:
        anchor_generator._create_grid_offsets = _grid_offsets_ij
        applied_shims.append("detectron2 anchor grid: meshgrid indexing='ij'")


def apply_compat():
    """Install the shims that are needed, once. Returns the list of applied shims."""
    if getattr(apply_compat, "_done", False):
        return applied_shims
    _patch_numpy()
    _patch_pillow()
    _patch_detectron2_c()
    _quiet_detectron2_notices()
    apply_compat._done = True
    return applied_shims
