"""Data: video datasets, synthetic videos, crop geometry, triplet sampling and mapping."""
from . import datasets  # noqa: F401  (registers the standard dataset names)
