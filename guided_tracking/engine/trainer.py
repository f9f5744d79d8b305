"""GuidedTrainer: detectron2's DefaultTrainer for MAML on triplets (paper 4.1)."""
import logging
import random
import time
import weakref

import numpy as np
import torch

from detectron2.engine import DefaultTrainer, SimpleTrainer, TrainerBase, hooks
from detectron2.engine.defaults import create_ddp_model
from detectron2.solver import LRMultiplier, WarmupParamScheduler
from detectron2.utils import comm
from detectron2.utils.events import EventStorage
from detectron2.utils.env import seed_all_rng
from detectron2.utils.logger import setup_logger
from fvcore.common.param_scheduler import ExponentialParamScheduler

from ..data.build import build_triplet_train_loader
from .checkpoint import GuidedCheckpointer

__all__ = ["GuidedTrainer", "build_exponential_lr_scheduler"]

logger = logging.getLogger(__name__)


def build_exponential_lr_scheduler(cfg, optimizer):
    """lr(t) = BASE_LR * (BASE_LR_END / BASE_LR) ** (t / MAX_ITER), after warm-up
    (paper 4.1: exponential decay from 0.01 to 0.0005)."""
    decay = cfg.SOLVER.BASE_LR_END / cfg.SOLVER.BASE_LR
    sched = WarmupParamScheduler(
        ExponentialParamScheduler(start_value=1.0, decay=decay),
        cfg.SOLVER.WARMUP_FACTOR,
        min(cfg.SOLVER.WARMUP_ITERS / max(cfg.SOLVER.MAX_ITER, 1), 1.0),
        cfg.SOLVER.WARMUP_METHOD,
    )
    return LRMultiplier(optimizer, multiplier=sched, max_iter=cfg.SOLVER.MAX_ITER)


class _WallTimeBudget(hooks.HookBase):
    """Stops training after SOLVER.MAX_MINUTES of wall time (checked per step)."""

    def __init__(self, minutes: float):
        self.seconds = minutes * 60.0
        self.start = None

    def before_train(self):
        self.start = time.perf_counter()

    def after_step(self):
        stop = time.perf_counter() - self.start >= self.seconds
        if comm.get_world_size() > 1:
            stop = comm.all_gather(stop)[0]  # every rank stops where rank 0 does
        if stop:
            self.trainer.stop_requested = True


class _CollapseGuard(hooks.HookBase):
    """Raises when a non-zero loss has stopped moving for ``window`` iterations.

    detectron2's SimpleTrainer stops on a NaN/inf loss; a head whose ReLUs all
    died fails silently instead: it outputs the same logits for every ROI, its
    loss freezes at the entropy of the label mix (0.5628 for 1:3 ROI sampling,
    moving by ±0.0005 with the meta-learner's inner step), no gradient reaches
    it again, and the rest of the schedule is wasted. A live loss moves with its
    batch by several percent of its value per iteration; ``relative_std`` sits
    between the two by an order of magnitude each way.
    """

    def __init__(self, window: int, relative_std: float = 0.005, period: int = 20):
        self.window = int(window)
        self.relative_std = relative_std
        self.period = period

    def frozen_losses(self, storage):
        """{loss name: mean} for each loss of ``storage`` frozen over the window."""
        frozen = {}
        for name, history in storage.histories().items():
            if not name.startswith("loss_"):
                continue
            values = np.array([v for v, _ in history.values()[-self.window:]], dtype=np.float64)
            if len(values) < self.window:
                continue
            mean = abs(values.mean())
            if mean > 1e-6 and values.std() <= self.relative_std * mean:
                frozen[name] = float(values.mean())
        return frozen

    def after_step(self):
        if (self.trainer.iter + 1) % self.period:
            return
        # Only the main process logs the losses: every rank stops on its verdict.
        frozen = self.frozen_losses(self.trainer.storage) if comm.is_main_process() else {}
        if comm.get_world_size() > 1:
            frozen = comm.all_gather(frozen)[0]
        if frozen:
            losses = ", ".join(f"{name} = {value:.4f}" for name, value in sorted(frozen.items()))
            cfg = self.trainer.cfg
            raise FloatingPointError(
                f"Training collapsed at iteration {self.trainer.iter}: {losses} has not moved for "
                f"{self.window} iterations, so the head behind it outputs a constant and cannot recover. "
                f"Restart from scratch (or from a checkpoint before the collapse) with a lower "
                f"SOLVER.BASE_LR (now {cfg.SOLVER.BASE_LR}) or a longer SOLVER.WARMUP_ITERS "
                f"(now {cfg.SOLVER.WARMUP_ITERS}); SOLVER.COLLAPSE_WINDOW 0 turns this check off.")


class _SeedEachStep(hooks.HookBase):
    """Re-seeds torch, numpy and ``random`` from (SEED, rank, iteration) before
    every step, so that training is bit-reproducible across resumes.

    detectron2's ``default_setup`` seeds the global RNGs from SEED once, at start:
    the RPN / ROI-head sampling of a run resumed at iteration k would then draw
    from another RNG state than the uninterrupted run does at k. With this hook
    (SEED >= 0), step k draws the same numbers in both, and the data stream is
    already a pure function of (SEED, sample index), so a resumed run continues
    bit-identically (on the same hardware and thread count). Ranks get different
    streams, as with detectron2's ``seed + rank``.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def before_step(self):
        state = np.random.SeedSequence([self.seed, comm.get_rank(), self.trainer.iter]).generate_state(1)
        step_seed = int(state[0]) & 0x7FFFFFFF
        np.random.seed(step_seed)
        torch.manual_seed(step_seed)
        random.seed(step_seed)


class GuidedTrainer(DefaultTrainer):
    """DefaultTrainer with the triplet loader, the exponential LR schedule, a
    wall-time budget, resumable data, CPU DDP (gloo) and a checkpointer that
    loads plain detector checkpoints into the guided model.

    With SEED >= 0, training is bit-reproducible across ``--resume``: samples are
    a function of (SEED, sample index) and the global RNGs are re-seeded from
    (SEED, rank, iteration) before each step (``_SeedEachStep``)."""

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        if cfg.SEED >= 0:
            # The model's random init is part of the run: seed it as
            # detectron2's default_setup does, also when no CLI called that.
            seed_all_rng(cfg.SEED + comm.get_rank())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        # detectron2's create_ddp_model pins device_ids to the local GPU; CPU
        # processes (gloo) need device_ids=None.
        on_cpu = next(model.parameters()).device.type == "cpu"
        model = create_ddp_model(model, broadcast_buffers=False, **({"device_ids": None} if on_cpu else {}))
        self._trainer = SimpleTrainer(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = GuidedCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.stop_requested = False
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int = 0):
        return build_triplet_train_loader(cfg, start_iter=start_iter)

    @classmethod
    def build_lr_scheduler(cls, cfg, optimizer):
        if cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupExponentialLR":
            return build_exponential_lr_scheduler(cfg, optimizer)
        return super().build_lr_scheduler(cfg, optimizer)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        raise NotImplementedError("Tracking is evaluated with track_net.py --benchmark, not detectron2's evaluators")

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        logger.info("No detection evaluation for trackers: use track_net.py --benchmark")
        return {}

    def build_hooks(self):
        hook_list = super().build_hooks()
        # No detectron2 EvalHook: tracking is evaluated by track_net.py.
        hook_list = [h for h in hook_list if not isinstance(h, hooks.EvalHook)]
        if self.cfg.SEED >= 0:
            hook_list.insert(0, _SeedEachStep(self.cfg.SEED))
        if self.cfg.SOLVER.COLLAPSE_WINDOW > 0:
            hook_list.insert(0, _CollapseGuard(self.cfg.SOLVER.COLLAPSE_WINDOW))
        if self.cfg.SOLVER.MAX_MINUTES > 0:
            hook_list.insert(0, _WallTimeBudget(self.cfg.SOLVER.MAX_MINUTES))
        return hook_list

    # detectron2 v0.6's DefaultTrainer checkpoints only the iteration and the hooks
    # (LR scheduler): without these two, a resumed run restarts SGD momentum from
    # zero and the first resumed step uses the optimizer's initial lr.
    def state_dict(self):
        ret = super().state_dict()
        ret["_trainer"] = self._trainer.state_dict()  # optimizer state
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if "_trainer" in state_dict:
            self._trainer.load_state_dict(state_dict["_trainer"])
        else:
            logger.warning("Checkpoint without optimizer state: SGD momentum restarts from zero")

    def resume_or_load(self, resume=True):
        super().resume_or_load(resume=resume)
        if self.start_iter > 0:
            # Continue the exact sample stream (sample k is a function of k).
            self._trainer.data_loader = self.build_train_loader(self.cfg, start_iter=self.start_iter)
            self._trainer._data_loader_iter = iter(self._trainer.data_loader)

    def train(self):
        """detectron2's TrainerBase.train loop, which also ends early when the
        wall-time budget is spent (then it saves ``model_final`` as at MAX_ITER)."""
        logger.info(f"Starting training from iteration {self.start_iter}")
        self.iter = self.start_iter
        with EventStorage(self.start_iter) as self.storage:
            try:
                self.before_train()
                for self.iter in range(self.start_iter, self.max_iter):
                    self.before_step()
                    self.run_step()
                    self.after_step()
                    if self.stop_requested:
                        logger.warning(f"Wall-time budget of {self.cfg.SOLVER.MAX_MINUTES} min reached at "
                                       f"iteration {self.iter + 1} of {self.max_iter}: where training stops "
                                       "depends on this machine's speed, so a rerun may not give the same "
                                       "model (raise SOLVER.MAX_MINUTES to end at SOLVER.MAX_ITER)")
                        # Saved while self.iter is the finished iteration, as the
                        # periodic checkpoints are: --resume continues at self.iter + 1.
                        if comm.is_main_process():
                            self.checkpointer.save("model_final", iteration=self.iter)
                        break
                self.iter += 1
            finally:
                self.after_train()
        comm.synchronize()
