"""Training data loader of triplets, in detectron2's loader style."""
import logging
import os

import torch.utils.data as torchdata

from detectron2.config import configurable
from detectron2.data import DatasetCatalog
from detectron2.data.build import trivial_batch_collator, worker_init_reset_seed
from detectron2.utils import comm

from .mapper import TripletDatasetMapper
from .sampler import IndexStream, TripletDataset

__all__ = ["build_triplet_train_loader", "ensure_datasets_registered"]

logger = logging.getLogger(__name__)


def parse_folder_entry(entry: str):
    """``"NAME=PATH"`` of DATASETS.FOLDERS -> (name, path), or a clear error."""
    name, sep, path = str(entry).partition("=")
    name, path = name.strip(), os.path.expanduser(path.strip())
    if not sep or not name or not path:
        raise ValueError(f"DATASETS.FOLDERS entry {entry!r}: expected 'NAME=PATH', e.g. 'real_train=/data/real/train'")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"DATASETS.FOLDERS entry {entry!r}: folder {path!r} does not exist")
    return name, path


def ensure_datasets_registered(cfg):
    """Register the standard names under DATASETS.ROOT when set (else the
    $DETECTRON2_DATASETS registration done at import time stands), and each
    DATASETS.FOLDERS ``NAME=PATH`` as a folder dataset."""
    from .datasets import register_all_video_datasets, register_folder_dataset

    if cfg.DATASETS.ROOT:
        register_all_video_datasets(cfg.DATASETS.ROOT)
    for entry in cfg.DATASETS.FOLDERS:
        register_folder_dataset(*parse_folder_entry(entry))


def _triplet_loader_from_config(cfg, mapper=None, start_iter: int = 0):
    """cfg -> the arguments of ``build_triplet_train_loader`` (the one place its keys are read)."""
    ensure_datasets_registered(cfg)
    datasets = [DatasetCatalog.get(name) for name in cfg.DATASETS.TRAIN]
    for name, d in zip(cfg.DATASETS.TRAIN, datasets):
        logger.info(f"Training dataset {name}: {len(d)} sequences")
    t = cfg.DATALOADER.TRIPLET
    return {
        "datasets": datasets,
        "mapper": TripletDatasetMapper(cfg) if mapper is None else mapper,
        "total_batch_size": cfg.SOLVER.IMS_PER_BATCH,
        "probs": t.DATASET_PROBS,
        "max_gap": t.MAX_GAP,
        "neg_prob": t.NEG_PROB,
        "neg_kind_probs": t.NEG_KIND_PROBS,
        "seed": cfg.SEED if cfg.SEED >= 0 else 0,
        "num_workers": cfg.DATALOADER.NUM_WORKERS,
        "start_iter": start_iter,
    }


@configurable(from_config=_triplet_loader_from_config)
def build_triplet_train_loader(datasets, *, mapper, total_batch_size: int, probs=(), max_gap: int = 100,
                               neg_prob: float = 0.0, neg_kind_probs=(1.0, 0.0, 0.0), seed: int = 0,
                               num_workers: int = 0, start_iter: int = 0):
    """Infinite loader of lists of triplets (per-rank batch).

    ``build_triplet_train_loader(cfg, mapper=None, start_iter=0)`` reads the
    DATASETS / DATALOADER.TRIPLET keys; the arguments can also be given directly
    (``datasets``: one list of records per training set).
    Sample k of the stream is a pure function of (seed, k), so ``start_iter``
    resumes the exact stream of an interrupted run.
    """
    world_size = comm.get_world_size()
    if total_batch_size % world_size:
        raise ValueError(f"SOLVER.IMS_PER_BATCH ({total_batch_size}) must be divisible by the number of processes "
                         f"({world_size})")
    dataset = TripletDataset(datasets, mapper, probs=probs, max_gap=max_gap, seed=seed, neg_prob=neg_prob,
                             neg_kind_probs=neg_kind_probs)
    per_rank = total_batch_size // world_size
    # Map-style dataset + batch sampler (not detectron2's iterable wrapper, whose
    # batches depend on the worker count): batch i holds samples
    # [i * per_rank, (i + 1) * per_rank) of this rank's stream for any NUM_WORKERS.
    batch_sampler = torchdata.BatchSampler(IndexStream(start=start_iter * per_rank), per_rank, drop_last=True)
    return torchdata.DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                                collate_fn=trivial_batch_collator, worker_init_fn=worker_init_reset_seed,
                                persistent_workers=num_workers > 0)


def datasets_root(cfg) -> str:
    """DATASETS.ROOT, else $DETECTRON2_DATASETS, else ``datasets`` (detectron2's convention)."""
    return cfg.DATASETS.ROOT or os.environ.get("DETECTRON2_DATASETS", "datasets")


def ensure_synthetic_datasets(cfg) -> None:
    """Generate the synthetic_{train,val,test} videos that DATASETS.TRAIN/TEST
    name and that are missing (idempotent: complete sequences are kept)."""
    from .synthetic import generate_videos

    syn = cfg.DATASETS.SYNTHETIC
    out_dir = os.path.join(datasets_root(cfg), "synthetic")
    for name in list(cfg.DATASETS.TRAIN) + list(cfg.DATASETS.TEST):
        if not name.startswith("synthetic_"):
            continue
        split = name[len("synthetic_"):]
        num_videos = syn.TRAIN_VIDEOS if split == "train" else syn.EVAL_VIDEOS
        logger.info(f"Synthetic videos: {num_videos} x {syn.FRAMES} frames in {out_dir}/{split}")
        generate_videos(out_dir, num_videos, syn.FRAMES, syn.SEED, split=split, image_size_wh=tuple(syn.SIZE),
                        workers=max(1, min(4, os.cpu_count() or 1)))
