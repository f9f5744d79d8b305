"""detectron2 registration: DatasetCatalog entries for each format and folder."""
import logging
import os
from typing import Callable, Dict, List, Optional, Tuple

from .common import PathLike
from .folder import _FOLDER_HINT, load_folder
from .got10k import _GOT10K_HINT, load_got10k
from .lasot import _LASOT_HINT, load_lasot
from .nfs import _NFS_HINT, load_nfs
from .otb import _OTB_HINT, load_otb
from .uav123 import _UAV_HINT, load_uav123

logger = logging.getLogger(__name__)

# name -> loader; the keyword that selects a subset differs per format.
LOADERS: Dict[str, Callable[..., List[dict]]] = {
    "got10k": load_got10k,
    "lasot": load_lasot,
    "otb": load_otb,
    "uav123": load_uav123,
    "nfs": load_nfs,
    "folder": load_folder,
}


_DATASETS_ENV = "DETECTRON2_DATASETS"
# name -> (loader, kwargs) of what this module registered, to make re-registration
# with the same arguments a no-op (modules get imported more than once).
_REGISTERED: Dict[str, Tuple[Callable, dict]] = {}


def _catalogs():
    # detectron2 v0.6 needs the numpy/Pillow shims before its data package imports.
    from ...compat import apply_compat

    apply_compat()
    from detectron2.data import DatasetCatalog, MetadataCatalog

    return DatasetCatalog, MetadataCatalog


def _loader_format(loader: Callable, kwargs: dict) -> str:
    if "format" in kwargs:
        return kwargs["format"]
    for name, fn in LOADERS.items():
        if fn is loader:
            return name
    return getattr(loader, "__name__", "custom").replace("load_", "")


def register_video_dataset(name: str, loader: Callable[..., List[dict]], **kwargs) -> None:
    """Register ``loader(**kwargs)`` lazily under ``name`` in detectron2's catalogs.

    Nothing is read from disk until ``DatasetCatalog.get(name)``. The metadata gets
    ``evaluator_type="tracking"``, ``root`` and ``format`` (plus ``split`` /
    ``version`` / ``fps`` when given). Registering a name again with the same
    loader and arguments is a no-op. A name this module registered with other
    arguments is replaced (so ``register_all_video_datasets("/data")`` after the
    import-time registration works); a name registered by other code is an error.
    """
    DatasetCatalog, MetadataCatalog = _catalogs()
    if name in DatasetCatalog.list():
        previous = _REGISTERED.get(name)
        if previous is None:
            raise ValueError(f"dataset {name!r} is already registered by other code")
        if previous[0] is loader and previous[1] == kwargs:
            return
        logger.info("Re-registering dataset %r with %s (was %s)", name, kwargs, previous[1])
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, lambda: loader(**kwargs))
    _REGISTERED[name] = (loader, dict(kwargs))
    meta = {"evaluator_type": "tracking", "format": _loader_format(loader, kwargs)}
    if "root" in kwargs:
        # Standard datasets: the folder actually used is root/<first subdir>.
        meta["root"] = os.path.join(os.fspath(kwargs["root"]), *kwargs.get("subdirs", ())[:1])
    for key in ("split", "version", "fps"):
        if kwargs.get(key) is not None:
            meta[key] = kwargs[key]
    MetadataCatalog.get(name).set(**meta)


def register_folder_dataset(name: str, root: PathLike, format: str = "folder", split: Optional[str] = None,
                            **loader_kwargs) -> None:
    """Register an arbitrary folder, e.g. ``register_folder_dataset("mine", "/data/seqs")``.

    Args:
        format: a key of :data:`LOADERS` ("folder", "got10k", "otb", ...).
        split: passed to the GOT-10k / LaSOT loaders (GOT-10k: None means ``root``
            is the split folder itself).
        loader_kwargs: other loader arguments (``version=`` for OTB/UAV123,
            ``fps=`` for NfS).
    """
    if format not in LOADERS:
        raise ValueError(f"format must be one of {sorted(LOADERS)}, got {format!r}")
    kwargs = dict(loader_kwargs, root=os.fspath(root))
    if format in ("got10k", "lasot"):
        kwargs["split"] = split
    elif split is not None:
        raise ValueError(f"split is not used by the {format!r} loader (use version=/fps=)")
    register_video_dataset(name, LOADERS[format], **kwargs)


def _load_standard(format: str, root: str, subdirs: Tuple[str, ...], **loader_kwargs) -> List[dict]:
    """Load a standard dataset from the first of ``root/<subdir>`` that exists."""
    for sub in subdirs:
        path = os.path.join(root, sub)
        if os.path.isdir(path):
            return LOADERS[format](path, **loader_kwargs)
    env = os.environ.get(_DATASETS_ENV)
    env_text = f"${_DATASETS_ENV}={env!r}" if env is not None else f"${_DATASETS_ENV} unset (default 'datasets')"
    tried = " or ".join(os.path.join(root, s) for s in subdirs)
    raise FileNotFoundError(
        f"{tried}: dataset folder not found. Standard datasets live under ${_DATASETS_ENV}/{subdirs[0]} "
        f"(root {root!r}, {env_text}); set {_DATASETS_ENV} or move the data there. "
        f"Expected layout: {_STANDARD_HINTS[format]}"
    )


_STANDARD_HINTS = {
    "got10k": _GOT10K_HINT,
    "lasot": _LASOT_HINT,
    "otb": _OTB_HINT,
    "uav123": _UAV_HINT,
    "nfs": _NFS_HINT,
    "folder": _FOLDER_HINT,
}

# name -> (format, subfolders tried in order, loader kwargs)
_STANDARD_DATASETS = {
    "got10k_train": ("got10k", ("GOT-10k",), {"split": "train"}),
    "got10k_val": ("got10k", ("GOT-10k",), {"split": "val"}),
    "got10k_test": ("got10k", ("GOT-10k",), {"split": "test"}),
    "lasot_train": ("lasot", ("LaSOT", "LaSOTBenchmark"), {"split": "train"}),
    "lasot_test": ("lasot", ("LaSOT", "LaSOTBenchmark"), {"split": "test"}),
    "otb2013": ("otb", ("OTB",), {"version": 2013}),
    "otb2015": ("otb", ("OTB",), {"version": 2015}),
    "uav123": ("uav123", ("UAV123",), {"version": "UAV123"}),
    "uav20l": ("uav123", ("UAV123",), {"version": "UAV20L"}),
    "nfs30": ("nfs", ("NfS",), {"fps": 30}),
    # Videos of guided_tracking.data.synthetic (GOT-10k layout), see train_net.py.
    "synthetic_train": ("got10k", ("synthetic",), {"split": "train"}),
    "synthetic_val": ("got10k", ("synthetic",), {"split": "val"}),
    "synthetic_test": ("got10k", ("synthetic",), {"split": "test"}),
}


def register_all_video_datasets(root: Optional[PathLike] = None) -> None:
    """Register the standard tracking datasets (got10k_train, lasot_test, otb2015,
    uav123, nfs30, ...) under ``root`` or ``$DETECTRON2_DATASETS`` (default
    ``datasets``), each in its conventional subfolder (``GOT-10k``, ``LaSOT`` or
    ``LaSOTBenchmark``, ``OTB``, ``UAV123``, ``NfS``). Lazy: no disk access."""
    if root is None:
        root = os.environ.get(_DATASETS_ENV, "datasets")
    root = os.fspath(root)
    for name, (fmt, subdirs, kwargs) in _STANDARD_DATASETS.items():
        register_video_dataset(name, _load_standard, format=fmt, root=root, subdirs=subdirs, **kwargs)


if __name__.endswith(".data.datasets"):
    # Like detectron2/data/datasets/builtin.py; an import must never fail because
    # detectron2 is missing or a name is taken, so problems are only logged.
    try:
        register_all_video_datasets()
    except Exception as e:  # noqa: BLE001
        logger.warning("Standard tracking datasets not registered: %s", e)
