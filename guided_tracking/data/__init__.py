"""Data: video datasets, synthetic videos, crop geometry, triplet sampling and mapping."""
