"""Online tracking: anchored updating, localisation, the tracker and adapters."""
from .anchored import anchored_update
from .build import build_tracker
from .got10k_tracker import Got10kGuidedTracker
from .localization import localize, update_state
from .tracker import GuidedTracker

__all__ = ["GuidedTracker", "Got10kGuidedTracker", "anchored_update", "build_tracker", "localize", "update_state"]
