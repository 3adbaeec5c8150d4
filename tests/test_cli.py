import subprocess
import sys

import pytest

from skfrl.cli import main, run_audit


def test_audit_on_german_reports_raw_and_representation(capsys):
    assert main(["audit", "--dataset", "german", "--max-epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "german (sensitive=sex)" in out
    assert "representation" in out and "probe_auc_s" in out


def test_run_audit_returns_tidy_report():
    report = run_audit("german", sensitive="age", max_epochs=2)
    assert list(report["features"]) == ["raw", "representation"]
    assert report[["accuracy", "probe_auc_s"]].notna().all().all()
    assert ((report["probe_auc_s"] >= 0) & (report["probe_auc_s"] <= 1)).all()


def test_bad_sensitive_is_one_line_error(capsys):
    assert main(["audit", "--dataset", "german", "--sensitive", "race"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "--sensitive" in err and "sex, age" in err


def test_missing_external_data_is_one_line_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SKFRL_DATA", str(tmp_path))
    assert main(["audit", "--dataset", "compas"]) == 2
    err = capsys.readouterr().err.strip()
    assert "SKFRL_DATA" in err and "Traceback" not in err


def test_unknown_dataset_exits_nonzero():
    with pytest.raises(SystemExit) as info:
        main(["audit", "--dataset", "mnist"])
    assert info.value.code == 2


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "skfrl.cli", "audit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--dataset" in result.stdout
