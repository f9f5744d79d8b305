"""Training engine: trainer, checkpointer, launch."""
from .checkpoint import GuidedCheckpointer
from .launch import launch
from .trainer import GuidedTrainer, build_exponential_lr_scheduler

__all__ = ["GuidedCheckpointer", "GuidedTrainer", "build_exponential_lr_scheduler", "launch"]
