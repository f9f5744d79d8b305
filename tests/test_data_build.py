"""DATASETS.FOLDERS: any folder of sequences becomes a named training set."""
import os

import pytest

from detectron2.data import DatasetCatalog

from guided_tracking.data.build import ensure_datasets_registered, parse_folder_entry


def test_parse_folder_entry(tmp_path):
    assert parse_folder_entry(f"mine={tmp_path}") == ("mine", str(tmp_path))
    assert parse_folder_entry(f" mine = {tmp_path} ") == ("mine", str(tmp_path))
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_folder_entry(str(tmp_path))
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_folder_entry(f"={tmp_path}")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        parse_folder_entry(f"mine={tmp_path / 'nope'}")


def test_folders_register_as_training_sets(tiny_cfg, synthetic_videos, default_dataset_registry):
    folder = os.path.join(synthetic_videos, "synthetic", "train")
    cfg = tiny_cfg("mnv2_fpn", ["DATASETS.FOLDERS", (f"my_videos={folder}",)])
    ensure_datasets_registered(cfg)
    records = DatasetCatalog.get("my_videos")
    assert len(records) == 3
    assert all(len(r["file_names"]) == 12 and len(r["boxes_xywh"]) == 12 for r in records)
    assert all(os.path.dirname(os.path.dirname(r["file_names"][0])) == folder for r in records)
