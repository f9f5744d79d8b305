"""Triplet sampling (paper 3.1): exemplar <= support <= query frames of one video.

Sampling is a pure function of (seed, sample index): ``TripletDataset[k]`` always
gives the same triplet, whatever the worker count, and a resumed run continues
the exact stream (``IndexStream`` starts at ``start_iter * batch``).

Every triplet has a *kind* (``sample["kind"]``), chosen here and acted on by the
mapper, as pysot's ``TrkDataset`` tells its label stage ``neg=True``:

* ``"positive"``: support and query show the exemplar's target;
* ``"negative"``: the query is a frame of another sequence (any class);
* ``"same_class"``: the query is a frame of another sequence whose object has the
  exemplar's class (``object_class``: GOT-10k / LaSOT / synthetic meta data, or a
  folder's ``INDEX.tsv``): the look-alike the tracker must not lock onto;
* ``"background"``: the query is the query frame cropped away from the target.

A negative query has no target: every anchor and ROI of it is background. The
support always shows the target, as the first frame does when tracking.
"""
import logging
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from detectron2.structures import BoxMode
from detectron2.utils import comm

__all__ = ["sample_triplet_frames", "coarse_class", "TripletDataset", "IndexStream", "TRIPLET_KINDS",
           "NEGATIVE_KINDS"]

# The kinds of a triplet (module doc); NEGATIVE_KINDS in the order of
# DATALOADER.TRIPLET.NEG_KIND_PROBS.
NEGATIVE_KINDS = ("negative", "same_class", "background")
TRIPLET_KINDS = ("positive",) + NEGATIVE_KINDS

logger = logging.getLogger(__name__)


def sample_triplet_frames(visible: np.ndarray, max_gap: int, rng: np.random.Generator,
                          min_candidates: int = 3) -> Optional[Tuple[int, int, int]]:
    """Frame ids (exemplar, support, query), chronological, all with a visible
    target, query - exemplar <= gap. The gap starts at ``max_gap`` and doubles
    while fewer than ``min_candidates`` visible frames fall inside the window
    (short or mostly-occluded videos). Support and query are never the exemplar
    frame itself unless the video has no other visible frame (the exemplar's
    own frame would teach matching a crop against itself). None if no frame is
    visible."""
    visible_ids = np.flatnonzero(np.asarray(visible, dtype=bool))
    if visible_ids.size == 0:
        return None
    gap = max(int(max_gap), 1)
    # The last visible frame has no later frame to be support or query for.
    exemplar = int(rng.choice(visible_ids[:-1] if visible_ids.size > 1 else visible_ids))
    while True:
        window = visible_ids[(visible_ids >= exemplar) & (visible_ids <= exemplar + gap)]
        if window.size >= min_candidates or gap >= len(visible):
            break
        gap *= 2
    others = window[window != exemplar]
    if others.size == 0:  # a one-visible-frame video: the exemplar frame is all there is
        others = window
    support, query = np.sort(rng.choice(others, size=2, replace=True))
    return exemplar, int(support), int(query)


def coarse_class(object_class) -> str:
    """The class a same-class negative is matched on: lower case, without the
    detail in parentheses or after '+' ("person (thermal IR)", "Person + BMX bike"
    -> "person"); "" when unknown."""
    if not object_class:
        return ""
    name = str(object_class).lower().split("(")[0].split("+")[0]
    return " ".join(name.split())


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
                 max_gap: int = 100, seed: int = 0, max_retries: int = 20, neg_prob: float = 0.0,
                 neg_kind_probs: Sequence[float] = (1.0, 0.0, 0.0)):
        """
        Args:
            datasets, probs: the training sets and their sampling weights.
            mapper: sample dict -> model input, or None (degenerate: resampled).
            max_gap: largest exemplar -> query frame gap (grown for short videos).
            seed: the stream's seed (sample k is a function of (seed, k)).
            neg_prob: probability of a negative triplet (0: none, and no draw at all).
            neg_kind_probs: weights of "negative", "same_class" and "background"
                among the negative triplets (NEGATIVE_KINDS order).
        """
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
        if not 0.0 <= neg_prob <= 1.0:
            raise ValueError(f"DATALOADER.TRIPLET.NEG_PROB must be in [0, 1], got {neg_prob}")
        kind_probs = np.asarray(neg_kind_probs, dtype=np.float64)
        if kind_probs.shape != (len(NEGATIVE_KINDS),) or (kind_probs < 0).any() or kind_probs.sum() <= 0:
            raise ValueError(f"DATALOADER.TRIPLET.NEG_KIND_PROBS needs {len(NEGATIVE_KINDS)} non-negative weights "
                             f"({', '.join(NEGATIVE_KINDS)}), got {list(neg_kind_probs)}")
        self.neg_prob = float(neg_prob)
        self.neg_kind_probs = kind_probs / kind_probs.sum()
        # (dataset, record) of every record by coarse object class, built once:
        # a same-class negative is one lookup.
        self.class_index: Dict[str, List[Tuple[int, int]]] = {}
        for d, dataset in enumerate(self.datasets):
            for r, record in enumerate(dataset):
                name = coarse_class(record.get("object_class"))
                if name:
                    self.class_index.setdefault(name, []).append((d, r))
        if self.neg_prob > 0 and self.neg_kind_probs[1] > 0:
            shared = sum(len(v) for v in self.class_index.values() if len(v) > 1)
            logger.info(f"Same-class negatives: {len(self.class_index)} object classes, {shared} sequences "
                        "share theirs with another sequence (the others fall back to any other sequence)")

    def __len__(self):
        return 2**62  # infinite stream, indexed by sample number

    def _frames(self, record: dict, rng: np.random.Generator) -> Optional[Tuple[tuple, List[str], np.ndarray]]:
        """(frame ids, file names, boxes) of a positive triplet of ``record``, or None."""
        if "file_names" in record:
            frames = sample_triplet_frames(record["visible"], self.max_gap, rng)
            if frames is None:
                return None
            file_names = [record["file_names"][i] for i in frames]
            boxes = np.stack([np.asarray(record["boxes_xywh"][i], dtype=np.float32) for i in frames])
            return frames, file_names, boxes
        boxes = _image_record_boxes(record)
        if not boxes:
            return None
        return (0, 0, 0), [record["file_name"]] * 3, np.stack([boxes[rng.integers(len(boxes))]] * 3)

    def _other(self, rng: np.random.Generator, here: Tuple[int, int], kind: str) -> Optional[Tuple[dict, str]]:
        """A record other than ``here`` for a negative query: of the same coarse class
        for "same_class" (any other record when the class has no other), else any."""
        record = self.datasets[here[0]][here[1]]
        same = [k for k in self.class_index.get(coarse_class(record.get("object_class")), []) if k != here]
        if kind == "same_class" and same:
            d, r = same[rng.integers(len(same))]
            return self.datasets[d][r], "same_class"
        d = int(rng.choice(len(self.datasets), p=self.probs))
        r = int(rng.integers(len(self.datasets[d])))
        if (d, r) == here:
            return None
        return self.datasets[d][r], "negative"

    def _pick(self, rng: np.random.Generator) -> Optional[Dict]:
        d = int(rng.choice(len(self.datasets), p=self.probs))
        r = int(rng.integers(len(self.datasets[d])))
        record = self.datasets[d][r]
        picked = self._frames(record, rng)
        if picked is None:
            return None
        frames, file_names, boxes = picked
        kind = "positive"
        # No draw at all when negatives are off: the positive stream stays as it was.
        if self.neg_prob > 0 and rng.random() < self.neg_prob:
            kind = NEGATIVE_KINDS[int(rng.choice(len(NEGATIVE_KINDS), p=self.neg_kind_probs))]
        sample = {"seq_name": record.get("seq_name", record.get("file_name")), "frame_ids": frames,
                  "file_names": file_names, "boxes_xywh": boxes, "still_image": "file_names" not in record,
                  "kind": kind}
        other = self._other(rng, (d, r), kind) if kind in ("negative", "same_class") else None
        other_frames = self._frames(other[0], rng) if other is not None else None
        if other_frames is not None:
            # The query is the other sequence's frame, cropped around its own object
            # (a centred look-alike for "same_class"); the mapper drops its box.
            sample["kind"] = other[1]
            sample["query_seq_name"] = other[0].get("seq_name", other[0].get("file_name"))
            sample["file_names"] = file_names[:2] + [other_frames[1][2]]
            sample["boxes_xywh"] = np.concatenate([boxes[:2], other_frames[2][2:]])
        elif kind in ("negative", "same_class"):
            sample["kind"] = "background"  # drew itself, or nothing visible there
        sample["seed"] = int(rng.integers(2**31))
        return sample

    def __getitem__(self, index: int) -> Dict:
        rng = np.random.default_rng([self.seed, int(index)])
        for _ in range(self.max_retries):
            sample = self._pick(rng)
            mapped = self.mapper(sample) if sample is not None else None
            if mapped is not None:
                return mapped
            # Degenerate triplet (target cropped away, no visible frame): resample.
            # A negative that found no other sequence / no free background is no
            # data defect and is not counted.
            if sample is None or sample["kind"] == "positive":
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
