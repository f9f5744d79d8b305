"""Multi-process launch: detectron2's ``launch`` on GPUs, gloo processes on CPU.

detectron2 v0.6's launch asserts CUDA and uses NCCL. For CPU training (this
project's default machine has no GPU) the same ``main(args)`` runs in N spawned
processes joined by a gloo process group, with detectron2's ``comm`` set up the
same way (global group + per-machine local group), so DDP all-reduces the outer
MAML gradient exactly as on GPUs.
"""
import ctypes
import logging
import os
import signal
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from detectron2.engine import launch as d2_launch
from detectron2.utils import comm

__all__ = ["launch", "exit_with_parent"]

logger = logging.getLogger(__name__)


def _find_free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exit_with_parent():
    """Ask the kernel to end this process when the process that started it dies
    (Linux PR_SET_PDEATHSIG): a killed launcher leaves no rank running on. A no-op
    elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except OSError:
        logger.debug("prctl(PR_SET_PDEATHSIG) unavailable: ranks may outlive a killed launcher")
        return
    if os.getppid() == 1:  # the launcher died before the request was made
        sys.exit(1)


def _cpu_worker(local_rank, main_func, world_size, procs_per_machine, machine_rank, dist_url, args):
    exit_with_parent()
    global_rank = machine_rank * procs_per_machine + local_rank
    dist.init_process_group(backend="gloo", init_method=dist_url, world_size=world_size, rank=global_rank,
                            timeout=timedelta(minutes=30))
    num_machines = world_size // procs_per_machine
    for i in range(num_machines):
        group = dist.new_group(list(range(i * procs_per_machine, (i + 1) * procs_per_machine)))
        if i == machine_rank:
            comm._LOCAL_PROCESS_GROUP = group
    # Share the 2-core machine fairly instead of oversubscribing it.
    torch.set_num_threads(max(1, torch.get_num_threads() // procs_per_machine))
    comm.synchronize()
    try:
        main_func(*args)
        # Leave together: a rank that tore its gloo group down while rank 0 was
        # still scoring was once killed by SIGABRT in gloo's teardown
        # ("terminate called without an active exception"), failing the run.
        comm.synchronize()
    finally:
        dist.destroy_process_group()


def launch(main_func, num_procs_per_machine: int, num_machines: int = 1, machine_rank: int = 0,
           dist_url: str = "auto", args=(), device: str = "cuda"):
    """Run ``main_func(*args)`` in ``num_procs_per_machine * num_machines`` processes.

    ``device="cuda"``: detectron2's launch (one GPU per process, NCCL).
    ``device="cpu"``: that many CPU processes per machine, gloo backend.
    """
    if device != "cpu":
        return d2_launch(main_func, num_procs_per_machine, num_machines, machine_rank, dist_url, args=args)
    world_size = num_procs_per_machine * num_machines
    if world_size <= 1:
        return main_func(*args)
    if dist_url == "auto":
        if num_machines != 1:
            raise ValueError("--dist-url=auto only works on one machine; give tcp://HOST:PORT")
        dist_url = f"tcp://127.0.0.1:{_find_free_port()}"
    logger.info(f"Launching {num_procs_per_machine} CPU processes (gloo) on machine {machine_rank} at {dist_url}")
    mp.start_processes(_cpu_worker, nprocs=num_procs_per_machine,
                       args=(main_func, world_size, num_procs_per_machine, machine_rank, dist_url, args),
                       daemon=False, start_method="spawn")
