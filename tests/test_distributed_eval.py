"""Evaluation on torch.distributed (issue 23): ranks share the sequences, rank 0
gathers and scores; a rerun after a dead rank resumes; a killed launcher leaves no
process behind; track_net.py's --num-gpus / --num-machines path
(guided_tracking.evaluation.running, engine.launch, track_net.py)."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from got10k.trackers import Tracker

from guided_tracking.evaluation import run_benchmark
from guided_tracking.evaluation.running import split_tasks

from test_evaluation import SquareTracker, make_folder

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DiesOn(SquareTracker):
    """SquareTracker whose process dies (no exception: os._exit) on one sequence's
    first update: a rank killed mid-run."""

    def __init__(self, marker_dir, victim_shape):
        super().__init__()
        self.marker_dir, self.victim_shape = marker_dir, victim_shape

    def init(self, image, box):
        super().init(image, box)
        self.victim = np.asarray(image).shape[:2] == tuple(self.victim_shape) and float(box[0]) == 6.0

    def update(self, image):
        if self.victim:
            os._exit(3)
        return super().update(image)


class DiesLeaving(SquareTracker):
    """SquareTracker whose rank-1 process is killed as it exits, after the work
    (gloo's teardown SIGABRT, seen about once in 30 runs)."""

    def __init__(self):
        super().__init__()
        from detectron2.utils import comm

        if comm.get_rank() == 1:
            import atexit

            atexit.register(lambda: os.kill(os.getpid(), signal.SIGKILL))


class SlowTracker(SquareTracker):
    """Writes its process id, then tracks slowly (a launcher can be killed meanwhile)."""

    def __init__(self, pid_dir):
        super().__init__()
        with open(os.path.join(pid_dir, f"{os.getpid()}.pid"), "w") as f:
            f.write("x")

    def update(self, image):
        time.sleep(0.5)
        return super().update(image)


def _factory(cls, *args):
    import functools

    return functools.partial(cls, *args)


def test_every_rank_takes_a_fixed_share_even_an_empty_one():
    tasks = [{"seq_name": f"s{i}", "img_files": [0] * n} for i, n in enumerate((50, 10, 30, 30))]
    chunks = split_tasks(tasks, 3)
    # Largest first onto the lightest: s0 (50) | s2 (30) + s1 (10) | s3 (30).
    assert [sorted(t["seq_name"] for t in c) for c in chunks] == [["s0"], ["s1", "s2"], ["s3"]]
    assert split_tasks(tasks[:1], 3)[1:] == [[], []]  # ranks 1 and 2 still get their (empty) chunk


def test_two_ranks_give_the_single_process_report(tmp_path):
    root = make_folder(str(tmp_path / "seqs"), names=("a", "b", "c", "d"))
    one = run_benchmark(SquareTracker, "folder", root, str(tmp_path / "one"), "Square")
    two = run_benchmark(SquareTracker, "folder", root, str(tmp_path / "two"), "Square", num_workers=2)
    for key in ("auc", "precision_20", "op50", "op75"):
        assert two["overall"][key] == one["overall"][key]
    assert {k: {m: v[m] for m in ("auc", "op50")} for k, v in two["sequences"].items()} == \
        {k: {m: v[m] for m in ("auc", "op50")} for k, v in one["sequences"].items()}
    for name in "abcd":
        np.testing.assert_array_equal(np.loadtxt(tmp_path / "one" / "results" / "folder" / "Square" / f"{name}.txt",
                                                 delimiter=","),
                                      np.loadtxt(tmp_path / "two" / "results" / "folder" / "Square" / f"{name}.txt",
                                                 delimiter=","))
    # Rank 1 logged to its own file, rank 0 to the terminal (and log.txt).
    assert os.path.isfile(tmp_path / "two" / "log.txt.rank1")


def test_a_dead_rank_stops_the_run_and_the_rerun_resumes(tmp_path):
    root = make_folder(str(tmp_path / "seqs"), names=("a", "b", "c", "d"), num_frames=6)
    out = str(tmp_path / "out")
    # Sequence "c" (offset 2: first box x = 4 + 2) kills its rank at its first update.
    with pytest.raises(Exception):
        run_benchmark(_factory(DiesOn, str(tmp_path), (48, 64)), "folder", root, out, "Square", num_workers=2)
    result_dir = os.path.join(out, "results", "folder", "Square")
    done = {os.path.basename(p)[:-4]: os.path.getmtime(p) for p in glob.glob(os.path.join(result_dir, "*.txt"))
            if not p.endswith("_confidence.txt")}
    assert "c" not in done and not os.path.isfile(os.path.join(out, "reports", "folder", "Square", "report.json"))
    time.sleep(0.05)
    report = run_benchmark(SquareTracker, "folder", root, out, "Square", num_workers=2)
    assert report["failed"] == [] and set(report["sequences"]) == set("abcd")
    for name, mtime in done.items():  # finished sequences were not tracked again
        assert os.path.getmtime(os.path.join(result_dir, f"{name}.txt")) == mtime


def test_a_rank_dying_after_the_report_does_not_fail_the_run(tmp_path, caplog):
    root = make_folder(str(tmp_path / "seqs"), names=("a", "b", "c", "d"), num_frames=6)
    with caplog.at_level("WARNING", logger="guided_tracking.evaluation.running"):
        report = run_benchmark(DiesLeaving, "folder", root, str(tmp_path / "out"), "Square", num_workers=2)
    assert report["failed"] == [] and set(report["sequences"]) == set("abcd")
    assert "died while leaving" in caplog.text


def test_a_killed_launcher_leaves_no_rank_behind(tmp_path):
    root = make_folder(str(tmp_path / "seqs"), names=("a", "b"), num_frames=40)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    code = (f"import sys; sys.path.insert(0, {os.path.join(REPO_ROOT, 'tests')!r}); "
            "import functools, test_distributed_eval as t; from guided_tracking.evaluation import run_benchmark; "
            f"run_benchmark(functools.partial(t.SlowTracker, {str(pid_dir)!r}), 'folder', {root!r}, "
            f"{str(tmp_path / 'out')!r}, 'Slow', num_workers=2)")
    launcher = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": REPO_ROOT})
    deadline = time.time() + 240
    while len(list(pid_dir.glob("*.pid"))) < 2 and time.time() < deadline and launcher.poll() is None:
        time.sleep(0.2)
    pids = [int(p.stem) for p in pid_dir.glob("*.pid")]
    assert len(pids) == 2, "the two ranks did not start"
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.time() + 30
    alive = pids
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in pids if _alive(pid)]
    assert not alive, f"ranks {alive} outlived their launcher"


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_track_net_num_gpus_on_cpu_processes(tmp_path):
    """track_net.py --num-gpus 2 on CPU: two gloo ranks, one report, exit status 0
    (a baseline tracker: the test is about the distribution, not the model)."""
    root = make_folder(str(tmp_path / "seqs"), names=("a", "b", "c"))
    run = subprocess.run([sys.executable, "track_net.py", "--benchmark", "folder", "--root", root, "--output",
                          str(tmp_path / "out"), "--num-gpus", "2", "--baselines", "kcf", "--name", "ours",
                          "TRACKER.INIT_SAMPLES", "2"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    for name in ("ours", "KCF"):
        with open(tmp_path / "out" / "reports" / "folder" / name / "report.json") as f:
            report = json.load(f)
        assert set(report["sequences"]) == {"a", "b", "c"} and report["failed"] == []
    assert "Traceback" not in log
