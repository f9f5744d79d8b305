"""Multi-process training on CPU (guided_tracking.engine.launch): 2 gloo processes
run train_net's setup + GuidedTrainer; DDP all-reduces the outer MAML gradient,
so every rank ends with the same parameters."""
import os
import sys

import torch

from conftest import CPU_YAML, REPO_ROOT, synthetic_dataset_opts
from detectron2.engine import default_argument_parser
from detectron2.utils import comm
from guided_tracking.data.build import build_triplet_train_loader
from guided_tracking.engine import GuidedTrainer, launch

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
import train_net  # noqa: E402


def _train_and_dump(args, dump_dir):
    """train_net.main, plus a dump of this rank's parameters (runs in each process)."""
    cfg = train_net.setup(args)
    trainer = GuidedTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    trainer.train()
    first_batch = next(iter(build_triplet_train_loader(cfg)))
    torch.save({"rank": comm.get_rank(), "world_size": comm.get_world_size(), "ddp": model is not trainer.model,
                "init": init, "final": model.state_dict(),
                "first_batch": [(t["seq_name"], t["frame_ids"]) for t in first_batch]},
               os.path.join(dump_dir, f"rank{comm.get_rank()}.pth"))


def test_two_cpu_processes_keep_identical_parameters(synthetic_videos, tmp_path):
    out = tmp_path / "out"
    opts = [
        "MODEL.DEVICE", "cpu", "MODEL.MOBILENET.PRETRAINED", "False", "MODEL.FPN.OUT_CHANNELS", "16",
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "16", "MODEL.ROI_BOX_HEAD.FC_DIM", "32",
        "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "32", "MODEL.RPN.PRE_NMS_TOPK_TRAIN", "200",
        "MODEL.RPN.POST_NMS_TOPK_TRAIN", "32", "MODEL.GUIDED.EXEMPLAR_SIZES", "[32, 64]",
        "INPUT.GUIDED.SEARCH_SIZE", "64", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "2",
        "SOLVER.WARMUP_ITERS", "0", "SOLVER.MAX_MINUTES", "0.0", "DATALOADER.NUM_WORKERS", "0", "SEED", "3",
        "OUTPUT_DIR", str(out),
    ] + [str(v) for v in synthetic_dataset_opts(synthetic_videos)]
    args = default_argument_parser().parse_args(["--config-file", CPU_YAML, "--num-gpus", "2"] + opts)
    launch(_train_and_dump, args.num_gpus, device="cpu", args=(args, str(tmp_path)))

    ranks = [torch.load(tmp_path / f"rank{r}.pth", map_location="cpu", weights_only=False) for r in (0, 1)]
    assert [d["rank"] for d in ranks] == [0, 1] and all(d["world_size"] == 2 and d["ddp"] for d in ranks)
    # 1 triplet per rank and step, different samples on the two ranks.
    assert len(ranks[0]["first_batch"]) == 1 and ranks[0]["first_batch"] != ranks[1]["first_batch"]
    final0, final1 = ranks[0]["final"], ranks[1]["final"]
    changed = [k for k in final0 if not torch.equal(final0[k], ranks[0]["init"][k])]
    assert len(changed) > 50  # trained
    for key in final0:
        assert torch.equal(final0[key], final1[key]), key
    # Rank 0's checkpoint holds the same weights.
    saved = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert saved["iteration"] == 1
    for key in final1:
        assert torch.equal(saved["model"][key], final1[key]), key
    assert (out / "log.txt").is_file() and (out / "log.txt.rank1").is_file()
