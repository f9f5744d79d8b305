"""Training with train_net.py (paper 4.1): a few iterations on synthetic videos,
bit-exact resume, the exponential LR schedule, the wall-time budget, and
initialising GuidedRCNN from a plain detectron2 detector checkpoint."""
import json
import logging
import math
import os
import shutil
import sys

import pytest
import torch

from conftest import REPO_ROOT, synthetic_dataset_opts
import detectron2.engine.defaults as d2_defaults
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model
from detectron2.utils.events import JSONWriter
from guided_tracking.engine import GuidedCheckpointer, GuidedTrainer

if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
import train_net  # noqa: E402

LOSSES = ("loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg")


@pytest.fixture(autouse=True)
def _isolated_training(default_dataset_registry):
    """One thread (2-core machine shared with other processes: two OpenMP threads
    slow each step down badly), and the loggers that train_net configures
    (stdout + OUTPUT_DIR/log.txt, propagate=False) restored afterwards, so caplog
    keeps working in later tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    names = ("detectron2", "fvcore", "guided_tracking")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate, logging.getLogger(n).level)
             for n in names}
    yield
    torch.set_num_threads(threads)
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        for h in logger.handlers[:]:
            if h not in handlers:
                logger.removeHandler(h)
                h.close()
        logger.propagate, logger.level = propagate, level


@pytest.fixture
def config_file(tiny_cfg, synthetic_videos, tmp_path):
    """The tiny MobileNetV2-FPN config (tiny_cfg) on the synthetic videos, as a YAML file."""
    cfg = tiny_cfg("mnv2_fpn", synthetic_dataset_opts(synthetic_videos) + [
        "DATALOADER.NUM_WORKERS", 0, "SEED", 7, "SOLVER.WARMUP_ITERS", 0, "SOLVER.MAX_MINUTES", 0.0,
    ])
    path = tmp_path / "tiny.yaml"
    path.write_text(cfg.dump())
    return str(path)


def _train(config_file, output_dir, *opts, resume=False):
    argv = ["--config-file", config_file] + (["--resume"] if resume else [])
    train_net.cli(argv + ["OUTPUT_DIR", str(output_dir)] + [str(v) for v in opts])


def _metrics(output_dir):
    with open(os.path.join(output_dir, "metrics.json")) as f:
        return {row["iteration"]: row for row in map(json.loads, f) if "total_loss" in row}


def _model_state(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_train_net_runs_three_iterations(config_file, tmp_path):
    out = tmp_path / "run"
    _train(config_file, out, "SOLVER.MAX_ITER", 3, "SOLVER.CHECKPOINT_PERIOD", 2)
    last = _metrics(out)[2]  # JSONWriter: the last iteration (0-based)
    for key in ("total_loss",) + LOSSES:
        assert math.isfinite(last[key]) and last[key] > 0, key
    assert last["total_loss"] == pytest.approx(sum(last[k] for k in LOSSES), rel=0.2)  # medians of 3
    assert (out / "model_0000001.pth").is_file() and (out / "model_final.pth").is_file()
    assert (out / "last_checkpoint").read_text().strip() == "model_final.pth"
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    assert final["iteration"] == 2 and final["trainer"]["iteration"] == 2
    assert "optimizer" in final["trainer"]["_trainer"]  # momentum is checkpointed
    mid = _model_state(out / "model_0000001.pth")
    assert any(not torch.equal(final["model"][k], mid[k]) for k in mid)  # iteration 3 changed the weights
    log = (out / "log.txt").read_text()
    assert "Starting training from iteration 0" in log  # guided_tracking's loggers reach log.txt


def test_resume_continues_bit_exactly(config_file, tmp_path, monkeypatch):
    """4 iterations straight == 2 iterations, checkpoint, --resume for 2 more."""
    # metrics.json with the exact value of each iteration (detectron2's default
    # JSONWriter writes the median of the last 20).
    monkeypatch.setattr(d2_defaults, "default_writers", lambda output_dir, max_iter: [
        JSONWriter(os.path.join(output_dir, "metrics.json"), window_size=1)])
    opts = ("SOLVER.MAX_ITER", 4, "SOLVER.CHECKPOINT_PERIOD", 2)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _train(config_file, straight, *opts)
    # An interrupted run: only the checkpoint after iteration 2 survived.
    resumed.mkdir()
    shutil.copy(straight / "model_0000001.pth", resumed)
    (resumed / "last_checkpoint").write_text("model_0000001.pth")
    _train(config_file, resumed, *opts, resume=True)

    assert "Starting training from iteration 2" in (resumed / "log.txt").read_text()
    a, b = _metrics(straight)[3], _metrics(resumed)[3]
    assert b["lr"] == pytest.approx(a["lr"], rel=1e-12)
    for key in ("total_loss",) + LOSSES:
        assert b[key] == pytest.approx(a[key], rel=1e-6, abs=1e-7), key
    final_a, final_b = _model_state(straight / "model_final.pth"), _model_state(resumed / "model_final.pth")
    for key in final_a:
        torch.testing.assert_close(final_b[key], final_a[key], rtol=0, atol=1e-7, msg=key)


def _lrs(cfg, num_iter):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.SOLVER.BASE_LR, momentum=0.9)
    scheduler = GuidedTrainer.build_lr_scheduler(cfg, optimizer)
    lrs = []
    for _ in range(num_iter + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("warmup", [0, 10])
def test_exponential_lr_schedule(tiny_cfg, warmup):
    cfg = tiny_cfg("mnv2_fpn", ["SOLVER.MAX_ITER", 100, "SOLVER.WARMUP_ITERS", warmup, "SOLVER.WARMUP_FACTOR", 0.001,
                                "SOLVER.BASE_LR", 0.01, "SOLVER.BASE_LR_END", 0.0005])
    assert cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupExponentialLR"
    lrs = _lrs(cfg, 100)
    expected = lambda t: 0.01 * (0.0005 / 0.01) ** (t / 100)  # noqa: E731
    # lr(0 after warm-up) = BASE_LR: exactly without warm-up, BASE_LR * decay^(W/MAX_ITER) after it.
    assert lrs[warmup] == pytest.approx(expected(warmup), rel=1e-6)
    assert lrs[warmup] == pytest.approx(0.01, rel=0.3)
    assert lrs[100] == pytest.approx(0.0005, rel=1e-6)  # BASE_LR_END at MAX_ITER
    assert lrs[60] == pytest.approx(expected(60), rel=1e-6)
    assert all(x > y for x, y in zip(lrs[warmup:], lrs[warmup + 1:]))
    if warmup:
        assert lrs[0] == pytest.approx(0.01 * 0.001, rel=1e-6)
        assert all(x < y for x, y in zip(lrs[:warmup], lrs[1:warmup + 1]))


def test_wall_time_budget_stops_early_and_resumes_after(config_file, tmp_path):
    out = tmp_path / "budget"
    _train(config_file, out, "SOLVER.MAX_ITER", 50, "SOLVER.CHECKPOINT_PERIOD", 20, "SOLVER.MAX_MINUTES", 1e-6)
    assert "Wall-time budget of 1e-06 min reached at iteration 1" in (out / "log.txt").read_text()
    assert max(_metrics(out)) == 0
    assert sorted(p.name for p in out.glob("*.pth")) == ["model_final.pth"]
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=False)
    # Saved as iteration 0 finished: --resume goes on with iteration 1, none skipped.
    assert final["iteration"] == 0 and final["trainer"]["iteration"] == 0
    _train(config_file, out, "SOLVER.MAX_ITER", 2, resume=True)
    assert "Starting training from iteration 1" in (out / "log.txt").read_text()
    assert max(_metrics(out)) == 1


def test_checkpointer_loads_plain_detectron2_detector(tiny_cfg, tmp_path, caplog):
    cfg = tiny_cfg("mnv2_fpn")
    plain_cfg = cfg.clone()
    plain_cfg.merge_from_list([
        "MODEL.META_ARCHITECTURE", "GeneralizedRCNN", "MODEL.BACKBONE.NAME", cfg.MODEL.GUIDED.BACKBONE_NAME,
        "MODEL.PROPOSAL_GENERATOR.NAME", "RPN", "MODEL.ROI_HEADS.NAME", "StandardROIHeads",
        "MODEL.ROI_HEADS.NUM_CLASSES", 80, "MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", False,
    ])
    torch.manual_seed(1)
    plain = build_model(plain_cfg)
    DetectionCheckpointer(plain, save_dir=str(tmp_path)).save("coco_detector")
    torch.manual_seed(2)
    guided = build_model(cfg)
    before = {k: v.clone() for k, v in guided.state_dict().items()}

    with caplog.at_level(logging.INFO, logger="guided_tracking"):
        GuidedCheckpointer(guided).load(str(tmp_path / "coco_detector.pth"))

    after, source = guided.state_dict(), plain.state_dict()
    backbone = [k for k in source if k.startswith("backbone.")]
    assert len(backbone) > 100
    for key in backbone:  # backbone.* -> backbone.body.*
        assert torch.equal(after[key.replace("backbone.", "backbone.body.", 1)], source[key]), key
    for key in ("proposal_generator.rpn_head.conv.weight", "roi_heads.box_head.fc1.weight"):
        assert torch.equal(after[key], source[key]) and not torch.equal(before[key], source[key])
    tgm = [k for k in after if ".tgms." in k]
    assert len(tgm) == 30  # 6 tensors x 5 levels (p2-p6), freshly initialised
    skipped = ["roi_heads.box_predictor.bbox_pred.bias", "roi_heads.box_predictor.bbox_pred.weight",
               "roi_heads.box_predictor.cls_score.bias", "roi_heads.box_predictor.cls_score.weight"]
    for key in tgm + skipped:
        assert torch.equal(after[key], before[key]), key
    assert after["roi_heads.box_predictor.cls_score.weight"].shape == (2, 32)

    loaded = len(after) - len(tgm) - len(skipped)
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Checkpoint summary")]
    assert summaries == [
        f"Checkpoint summary: {loaded}/{len(after)} model tensors loaded; 4 skipped for shape ({skipped}); "
        f"30 not in the checkpoint (30 of them TGM, freshly initialised); 0 checkpoint tensors unused."
    ]


def test_seeded_trainer_starts_from_the_same_weights(config_file, tiny_cfg):
    """``make demo`` builds GuidedTrainer without detectron2's default_setup: with
    SEED >= 0 the model's random init is seeded there too, so two demo trainings of
    one commit start (and, with the per-step seeding, end) with the same weights."""
    from guided_tracking.config import get_guided_cfg

    def initial_weights():
        cfg = get_guided_cfg()
        cfg.merge_from_file(config_file)
        torch.manual_seed(torch.seed())  # whatever the global RNG held before
        trainer = GuidedTrainer(cfg)
        return {k: v.clone() for k, v in trainer.model.state_dict().items()}

    a, b = initial_weights(), initial_weights()
    head = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(a[head], b[head])
    assert all(torch.equal(a[k], b[k]) for k in a)


def _guard_after(values_by_loss, window=5, base_lr=0.005):
    """Runs _CollapseGuard after len(values) logged iterations of the given losses."""
    from types import SimpleNamespace

    from detectron2.utils.events import EventStorage
    from guided_tracking.engine.trainer import _CollapseGuard

    steps = len(next(iter(values_by_loss.values())))
    guard = _CollapseGuard(window, period=1)
    cfg = SimpleNamespace(SOLVER=SimpleNamespace(BASE_LR=base_lr, WARMUP_ITERS=50))
    with EventStorage(0) as storage:
        guard.trainer = SimpleNamespace(storage=storage, cfg=cfg, iter=0)
        for step in range(steps):
            guard.trainer.iter = storage.iter = step
            storage.put_scalars(**{name: values[step] for name, values in values_by_loss.items()})
            guard.after_step()


def test_collapse_guard_stops_a_run_whose_loss_froze():
    moving = [0.7, 0.5, 0.45, 0.52, 0.41, 0.44, 0.39, 0.43]
    # The ROI classifier died at step 3: loss_cls sits at the 1:3 label mix's entropy.
    # (raw values of the collapsed 6,000-iteration run: they still move by ±0.0005).
    frozen = [0.69, 0.88, 0.60, 0.56234, 0.56286, 0.56318, 0.56286, 0.5628]
    with pytest.raises(FloatingPointError, match=r"iteration 7: loss_cls = 0\.5628 has not moved for 5 "
                                                 r"iterations.*SOLVER.BASE_LR \(now 0\.005\)"):
        _guard_after({"loss_rpn_cls": moving, "loss_cls": frozen})
    # One step short of the window, a live loss, and a loss that is 0 by construction: no verdict.
    _guard_after({"loss_cls": frozen[:7]})
    _guard_after({"loss_cls": moving, "loss_box_reg": [0.0] * 8})
    # Statistics that are not losses may well be constant.
    _guard_after({"loss_cls": moving, "lr": [0.005] * 8})


def test_trainer_registers_the_collapse_guard_unless_turned_off(config_file, tmp_path):
    from detectron2.config import get_cfg
    from guided_tracking import add_guided_tracking_config
    from guided_tracking.engine.trainer import _CollapseGuard

    for window, expected in ((100, [100]), (0, [])):
        cfg = get_cfg()
        add_guided_tracking_config(cfg)
        cfg.merge_from_file(config_file)
        cfg.merge_from_list(["SOLVER.COLLAPSE_WINDOW", window, "OUTPUT_DIR", str(tmp_path)])
        trainer = GuidedTrainer(cfg)
        assert [h.window for h in trainer._hooks if isinstance(h, _CollapseGuard)] == expected
