"""``python -m guided_tracking.data.synthetic``."""
import sys

from .cli import main

sys.exit(main())
