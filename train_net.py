#!/usr/bin/env python
"""Train a guided tracker (paper 3-4.1) with detectron2's workflow.

    python train_net.py --config-file configs/CPU/guided_rcnn_mnv2_FPN.yaml
    python train_net.py --config-file configs/GOT-10k/guided_rcnn_R_50_FPN.yaml --num-gpus 8 \\
        MODEL.WEIGHTS /path/to/coco_faster_rcnn_R_50_FPN.pkl DATASETS.ROOT /data
    python train_net.py --config-file ... --resume          # continue from last_checkpoint

With MODEL.DEVICE cpu, ``--num-gpus N`` starts N CPU processes (gloo DDP).
"""
import logging
import os

import guided_tracking  # noqa: F401  (registers everything)
from detectron2.config import CfgNode
from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger
from guided_tracking import get_guided_cfg
from guided_tracking.data.build import ensure_synthetic_datasets
from guided_tracking.engine import GuidedCheckpointer, GuidedTrainer, launch

logger = logging.getLogger("guided_tracking")


def setup(args) -> CfgNode:
    cfg = get_guided_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    # default_setup logs "detectron2" and "fvcore" to stdout and OUTPUT_DIR/log.txt;
    # this project's loggers too (checkpoint summary, wall-time budget, ...).
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="guided_tracking", abbrev_name="gt")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = GuidedTrainer.build_model(cfg)
        GuidedCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        logger.info("Model loaded. Tracking benchmarks run with track_net.py --benchmark ... "
                    "MODEL.WEIGHTS %s", cfg.MODEL.WEIGHTS)
        return {}
    trainer = GuidedTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def cli(argv=None):
    parser = default_argument_parser()
    args = parser.parse_args(argv)
    # Generate missing synthetic videos once, before any worker process starts.
    cfg = get_guided_cfg()
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    ensure_synthetic_datasets(cfg)
    device = "cpu" if cfg.MODEL.DEVICE == "cpu" else "cuda"
    print("Command Line Args:", args)
    return launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,), device=device)


if __name__ == "__main__":
    cli()
