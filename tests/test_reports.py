"""Per-attribute reports and repeated runs (issue 12)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from guided_tracking.evaluation.benchmark import run_benchmark
from guided_tracking.evaluation.reports import (UAV123_ATTRIBUTES, attribute_report, load_attributes,
                                                runs_report)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REPORT = {"sequences": {"a": {"auc": 0.2, "precision_20": 0.3, "op50": 0.1, "op75": 0.0},
                        "b": {"auc": 0.6, "precision_20": 0.7, "op50": 0.5, "op75": 0.4},
                        "c": {"auc": 1.0, "precision_20": 1.0, "op50": 1.0, "op75": 1.0}}}


def test_attribute_csv_in_both_layouts(tmp_path):
    lists = tmp_path / "lists.csv"
    lists.write_text("sequence,attributes\na,IV;OCC\nb,OCC SV\nc,\n", encoding="utf-8")
    table = tmp_path / "table.csv"
    table.write_text("\ufeffsequence,IV,OCC,SV\na,1,1,0\nb,0,1,1\nc,0,0,0\n", encoding="utf-8")
    expected = {"a": {"IV", "OCC"}, "b": {"OCC", "SV"}, "c": set()}
    assert load_attributes(str(lists)) == expected == load_attributes(str(table))
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,IV,OCC\na,1,1\nb,0\n")
    with pytest.raises(ValueError, match="bad.csv:3"):
        load_attributes(str(bad))


def test_uav123_att_folder(tmp_path):
    (tmp_path / "bike1.txt").write_text("1,0,0,0,0,0,0,0,0,0,1,0\n")
    (tmp_path / "car1.txt").write_text("0,1,0,0,0,0,0,0,0,0,0,1\n")
    labels = load_attributes(str(tmp_path))
    assert labels == {"bike1": {UAV123_ATTRIBUTES[0], "CM"}, "car1": {"ARC", "SOB"}}
    (tmp_path / "bad.txt").write_text("1,0\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        load_attributes(str(tmp_path))


def test_attribute_scores_are_means_over_their_sequences():
    by = attribute_report(REPORT, {"a": {"IV", "OCC"}, "b": {"OCC"}, "c": set(), "unscored": {"FM"}})
    assert set(by) == {"IV", "OCC"}  # FM has no scored sequence
    assert by["OCC"]["sequences"] == 2 and by["OCC"]["auc"] == pytest.approx(0.4)
    assert by["IV"]["precision_20"] == pytest.approx(0.3)


def test_runs_report_mean_and_std():
    reports = [{"overall": {"auc": v, "precision_20": v, "op50": v, "op75": v, "fps": 10.0},
                "sequences": {"a": {"auc": v}, "b": {"auc": 0.5}}} for v in (0.4, 0.6)]
    summary = runs_report(reports)
    assert summary["runs"] == 2
    assert summary["overall"]["auc"]["mean"] == pytest.approx(0.5) and summary["overall"]["auc"]["std"] == \
        pytest.approx(0.1)
    assert summary["sequences"]["b"]["std"] == 0 and summary["sequences"]["a"]["values"] == [0.4, 0.6]


def test_benchmark_report_has_attributes_and_track_net_runs(tmp_path):
    sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
    try:
        from test_reliability import _write_seq
    finally:
        sys.path.pop(0)
    root = str(tmp_path / "data")
    for name in ("s1", "s2", "s3"):
        _write_seq(root, name)
    labels = tmp_path / "attrs.csv"
    labels.write_text("s1,IV\ns2,IV;OCC\ns3,OCC\n")
    code = ("import sys, track_net, tests.test_reliability as t; "
            "track_net.make_got10k_tracker = lambda *a, **k: t.StillTracker(); sys.exit(track_net.main(sys.argv[1:]))")
    run = subprocess.run([sys.executable, "-c", code, "--benchmark", "folder", "--root", root, "--output",
                          str(tmp_path / "out"), "--name", "Still", "--runs", "2", "--attributes", str(labels)],
                         cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO_ROOT},
                         timeout=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    reports = tmp_path / "out" / "reports" / "folder"
    summary = json.loads((reports / "Still-runs2.json").read_text())
    assert summary["runs"] == 2 and summary["overall"]["auc"]["std"] == 0  # a deterministic tracker
    report = json.loads((reports / "Still-run1" / "report.json").read_text())
    assert set(report["attributes"]) == {"IV", "OCC"} and report["attributes"]["IV"]["sequences"] == 2
    assert "per attribute" in run.stdout and "2 runs (mean ± std)" in run.stdout


def test_lasot_occlusion_and_out_of_view_flags_become_attributes(tmp_path):
    from guided_tracking.evaluation.reports import default_attribute_source

    for seq, occ, ov in (("cat-1", "0,0,1,0", "0,0,0,0"), ("cat-2", "0,0,0,0", "0,1,1,0"), ("dog-3", "0,0", "0,0")):
        d = tmp_path / seq.split("-")[0] / seq
        d.mkdir(parents=True)
        (d / "full_occlusion.txt").write_text(occ)
        (d / "out_of_view.txt").write_text(ov)
    assert default_attribute_source("lasot", str(tmp_path)) == {"cat-1": {"FOC"}, "cat-2": {"OV"}, "dog-3": set()}
    assert default_attribute_source("otb2015", str(tmp_path)) is None
