"""guided-tracking: detectron2 detectors as single-object trackers.

Implements "Bridging the Gap Between Detection and Tracking: A Unified Approach"
(Huang et al., ICCV 2019). Importing the package applies the detectron2
compatibility shims and registers every component in detectron2's registries.
"""
from .compat import apply_compat

apply_compat()

from .config import add_guided_tracking_config, get_guided_cfg  # noqa: E402
from . import modeling  # noqa: E402,F401  (registers backbones, heads, meta-arch)
from . import data  # noqa: E402,F401  (registers datasets)

__version__ = "0.1.0"
__all__ = ["add_guided_tracking_config", "get_guided_cfg", "__version__"]
