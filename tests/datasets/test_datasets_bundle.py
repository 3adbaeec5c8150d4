from importlib import resources

import pytest

from skfrl.datasets import _build_bundled

RAW_FILES = ("adult.data", "adult.test", "german.data", "values_maps.json")


def test_bundled_files_are_small():
    data = resources.files("skfrl.datasets") / "data"
    for name in ("adult.csv.gz", "german.csv.gz"):
        size = len((data / name).read_bytes())
        assert size < 600_000, name


def test_bundle_rebuilds_identically_from_raw_files(data_home, tmp_path):
    missing = [name for name in RAW_FILES if not (data_home / name).is_file()]
    if missing:
        pytest.skip(f"raw UCI files {missing} not in SKFRL_DATA")
    _build_bundled.main([str(data_home), "--out", str(tmp_path)])
    data = resources.files("skfrl.datasets") / "data"
    for name in ("adult.csv.gz", "german.csv.gz"):
        assert (tmp_path / name).read_bytes() == (data / name).read_bytes(), name


def test_build_refuses_changed_raw_files(tmp_path):
    for name in RAW_FILES:
        (tmp_path / name).write_text("not the UCI file\n")
    with pytest.raises(ValueError, match="SHA-256"):
        _build_bundled.verify_raw_files(tmp_path)
