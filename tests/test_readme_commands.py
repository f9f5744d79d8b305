"""Every command the README shows starts from a fresh clone's install, run from
any folder (issue 12): the package imports without the repository on sys.path,
and each script / module parses its arguments (its imports all resolve).
The expensive ones run for real elsewhere: bench_tracker --smoke
(test_fast_path), track_net on benchmarks and videos (test_track_net,
test_reliability), the demo's pieces (test_track_net)."""
import os
import re
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands():
    """``python X.py`` and ``python -m pkg.mod`` as the README writes them."""
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    found = set(re.findall(r"python (-m [A-Za-z_.]+|[A-Za-z_/]+\.py)", text))
    return sorted(found)


def _env():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_the_package_is_installed_not_just_importable_from_the_checkout(tmp_path):
    run = subprocess.run([sys.executable, "-P", "-c", "import guided_tracking, sys; print(guided_tracking.__file__)"],
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert os.path.samefile(os.path.dirname(run.stdout.strip()), os.path.join(REPO_ROOT, "guided_tracking"))


def test_every_readme_command_starts_from_another_folder(tmp_path):
    commands = _readme_commands()
    assert "track_net.py" in commands and "bench/bench_tracker.py" in commands and "-m guided_tracking.demo" in commands
    procs = {}
    for command in commands:  # started together: each mostly waits on imports
        argv = command.split() if command.startswith("-m") else [os.path.join(REPO_ROOT, command)]
        procs[command] = subprocess.Popen([sys.executable, *argv, "--help"], cwd=tmp_path, env=_env(),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failed = {}
    for command, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0 or "usage" not in out.lower():
            failed[command] = (proc.returncode, err[-1500:])
    assert not failed, failed
