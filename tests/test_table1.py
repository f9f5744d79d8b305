"""bench/table1.py's rows: each is evaluated with the settings its model was trained with."""
import importlib.util
import os

import pytest

from guided_tracking import get_guided_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ["configs/CPU/guided_ssd_mnv2_FPN.yaml", "configs/CPU/guided_rcnn_mnv2_FPN.yaml"]


@pytest.fixture(scope="module")
def table1():
    spec = importlib.util.spec_from_file_location("table1", os.path.join(REPO, "bench", "table1.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _merged(config_file, opts):
    cfg = get_guided_cfg()
    cfg.merge_from_file(os.path.join(REPO, config_file))
    cfg.merge_from_list(list(opts))
    return cfg


@pytest.mark.parametrize("config_file", CONFIGS)
def test_single_resolution_row_is_evaluated_with_its_own_exemplar(table1, config_file):
    variants = {"full": [], "GD": ["MODEL.META.ENABLED", "False"],
                "single-res": table1.single_res_opts(os.path.join(REPO, config_file))}
    gd = ("TRACKER.INIT_STEPS", "5", "TRACKER.STEP_SIZE", "0.01")
    rows = table1.row_settings(config_file, variants, gd, compare=("two-stage", CONFIGS[1]))
    full = _merged(*rows["full"][1:])
    single = _merged(*rows["single-res"][1:])
    assert rows["single-res"][0] == "single-res"
    assert len(full.MODEL.GUIDED.EXEMPLAR_SIZES) > 1 and len(single.MODEL.GUIDED.EXEMPLAR_SIZES) == 1
    assert single.MODEL.GUIDED.EXEMPLAR_SIZES[0] in full.MODEL.GUIDED.EXEMPLAR_SIZES
    # The one exemplar is the one showing the target at the canonical size.
    canonical_px = full.INPUT.GUIDED.SEARCH_SIZE / full.INPUT.GUIDED.SEARCH_CONTEXT
    assert single.MODEL.GUIDED.EXEMPLAR_SIZES[0] / full.INPUT.GUIDED.EXEMPLAR_CONTEXT == pytest.approx(canonical_px, rel=0.5)
    gd_cfg = _merged(*rows["GD"][1:])
    assert rows["GD"][0] == "GD" and not gd_cfg.MODEL.META.ENABLED and gd_cfg.TRACKER.STEP_SIZE == 0.01
    theta0 = _merged(*rows["θ0-only"][1:])
    assert rows["θ0-only"][0] == "full" and theta0.TRACKER.INIT_STEPS == 0 and theta0.TRACKER.UPDATE_INTERVAL == 0
    assert _merged(*rows["no-anchor"][1:]).TRACKER.ANCHOR_WEIGHT == 0.0
    assert rows["two-stage"] == ("two-stage", CONFIGS[1], ())
