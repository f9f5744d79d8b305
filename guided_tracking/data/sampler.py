"""Triplet sampling (paper 3.1): exemplar <= support <= query frames of one video.

Sampling is a pure function of (seed, sample index): ``TripletDataset[k]`` always
gives the same triplet, whatever the worker count, and a resumed run continues
the exact stream (``IndexStream`` starts at ``start_iter * batch``).
"""
import logging
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from detectron2.structures import BoxMode
from detectron2.utils import comm

__all__ = ["sample_triplet_frames", "TripletDataset", "IndexStream"]

logger = logging.getLogger(__name__)


def sample_triplet_frames(visible: np.ndarray, max_gap: int, rng: np.random.Generator,
                          min_candidates: int = 3) -> Optional[Tuple[int, int, int]]:
    """Frame ids (exemplar, support, query), chronological, all with a visible
    target, query - exemplar <= gap. The gap starts at ``max_gap`` and doubles
    while fewer than ``min_candidates`` visible frames fall inside the window
    (short or mostly-occluded videos). None if no frame is visible."""
    visible_ids = np.flatnonzero(np.asarray(visible, dtype=bool))
    if visible_ids.size == 0:
        return None
    gap = max(int(max_gap), 1)
    exemplar = int(rng.choice(visible_ids))
    while True:
        window = visible_ids[(visible_ids >= exemplar) & (visible_ids <= exemplar + gap)]
        if window.size >= min_candidates or gap >= len(visible):
            break
        gap *= 2
    support, query = np.sort(rng.choice(window, size=2, replace=True))
    return exemplar, int(support), int(query)


def _image_record_boxes(record: dict) -> List[np.ndarray]:
    """xywh boxes of a still-image (detectron2 COCO-style) record."""
    boxes = []
    for ann in record.get("annotations", []):
        if ann.get("iscrowd", 0):
            continue
        box = BoxMode.convert(list(ann["bbox"]), ann["bbox_mode"], BoxMode.XYWH_ABS)
        if box[2] > 1 and box[3] > 1:
            boxes.append(np.asarray(box, dtype=np.float32))
    return boxes


class TripletDataset(Dataset):
    """Map-style dataset of triplets: index k -> mapped triplet dict.

    ``datasets`` is a list of lists of records (one list per entry of
    DATASETS.TRAIN): video records (``file_names``, ``boxes_xywh``, ``visible``)
    or still-image records (``file_name`` + ``annotations``), which give
    triplets of one image and one box (the mapper's jitter makes them differ).
    """

    def __init__(self, datasets: Sequence[List[dict]], mapper, probs: Sequence[float] = (),
                 max_gap: int = 100, seed: int = 0, max_retries: int = 20):
        self.datasets = [list(d) for d in datasets if len(d)]
        if not self.datasets:
            raise ValueError("DATASETS.TRAIN gave no sequences: check the dataset roots")
        sizes = np.array([len(d) for d in self.datasets], dtype=np.float64)
        if probs:
            if len(probs) != len(datasets):
                raise ValueError(f"DATALOADER.TRIPLET.DATASET_PROBS has {len(probs)} entries for "
                                 f"{len(datasets)} datasets in DATASETS.TRAIN")
            probs = np.asarray([p for p, d in zip(probs, datasets) if len(d)], dtype=np.float64)
        else:
            probs = sizes
        self.probs = probs / probs.sum()
        self.mapper = mapper
        self.max_gap = max_gap
        self.seed = seed
        self.max_retries = max_retries
        self.num_degenerate = 0

    def __len__(self):
        return 2**62  # infinite stream, indexed by sample number

    def _pick(self, rng: np.random.Generator) -> Optional[Dict]:
        dataset = self.datasets[rng.choice(len(self.datasets), p=self.probs)]
        record = dataset[rng.integers(len(dataset))]
        if "file_names" in record:
            frames = sample_triplet_frames(record["visible"], self.max_gap, rng)
            if frames is None:
                return None
            file_names = [record["file_names"][i] for i in frames]
            boxes = np.stack([np.asarray(record["boxes_xywh"][i], dtype=np.float32) for i in frames])
        else:
            boxes = _image_record_boxes(record)
            if not boxes:
                return None
            frames = (0, 0, 0)
            file_names = [record["file_name"]] * 3
            boxes = np.stack([boxes[rng.integers(len(boxes))]] * 3)
        return {"seq_name": record.get("seq_name", record.get("file_name")), "frame_ids": frames,
                "file_names": file_names, "boxes_xywh": boxes, "still_image": "file_names" not in record,
                "seed": int(rng.integers(2**31))}

    def __getitem__(self, index: int) -> Dict:
        rng = np.random.default_rng([self.seed, int(index)])
        for _ in range(self.max_retries):
            sample = self._pick(rng)
            mapped = self.mapper(sample) if sample is not None else None
            if mapped is not None:
                return mapped
            # Degenerate triplet (target cropped away, no visible frame): resample.
            self.num_degenerate += 1
        raise RuntimeError(f"{self.max_retries} degenerate triplets in a row at sample {index}: "
                           "check the boxes of the training data (INPUT.GUIDED.MIN_VISIBLE_FRACTION)")


class IndexStream(Sampler):
    """Infinite stream start, start+1, ... sharded over ranks (like detectron2's
    TrainingSampler, but deterministic in the index so training can resume)."""

    def __init__(self, start: int = 0):
        self.start = int(start)
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()

    def __iter__(self) -> Iterator[int]:
        index = self.start * self._world_size + self._rank
        while True:
            yield index
            index += self._world_size

    def __len__(self):
        return 2**62
