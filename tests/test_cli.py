import json
import subprocess
import sys

import pandas as pd
import pytest

from skfrl import cli
from skfrl.cli import _build_parser, main, run_audit
from skfrl.datasets import make_biased_classification

# Small, fast settings for every audit run here.
FAST = ["--max-epochs", "2", "--cv", "2", "--n-jobs", "1"]
# run_audit's counterpart of FAST, on a 200-row sample.
TINY = dict(cv=2, max_samples=200, max_epochs=2, n_jobs=1)


def test_defaults_are_the_documented_audit():
    args = _build_parser().parse_args(["audit"])
    assert (args.dataset, args.model, args.attacks) == (
        "adult",
        "cfair",
        "eng,nraa,random",
    )
    assert (args.budgets, args.cv, args.out) == ("0,0.05,0.1", 3, "report")


def test_audit_writes_a_report_folder(tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["audit", "--dataset", "german", "--sensitive", "sex", "--attacks",
            "label_flip", "--budgets", "0,0.1", "--max-samples", "300",
            "--out", str(out), *FAST]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "german (sensitive=sex)" in captured.out and "report.md" in captured.out
    assert "robustness" in captured.err  # the progress bar
    files = {p.name for p in out.iterdir()}
    assert {"report.md", "report.html", "results.csv", "summary.csv"} <= files
    assert {"settings.json", "robustness_curves.png", "leakage_bars.png"} <= files
    assert "representation_map.png" in files

    results = pd.read_csv(out / "results.csv")
    assert list(results.columns[:6]) == [
        "attack", "budget", "fold", "metric", "value", "fit_time"
    ]  # fmt: skip
    assert set(results["attack"]) == {"clean", "label_flip"}
    assert set(results["metric"]) == {
        "accuracy", "probe_auc_s", "fld_s", "dp_difference", "eo_difference"
    }  # fmt: skip
    # Raw metrics, not negated scores: a probe AUC is in [0, 1].
    auc = results.loc[results["metric"] == "probe_auc_s", "value"]
    assert auc.between(0, 1).all()

    markdown = (out / "report.md").read_text()
    assert "| attack | budget |" in markdown and "![" in markdown
    assert "MetricFrame" in markdown
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<table" in html

    settings = json.loads((out / "settings.json").read_text())
    assert settings["argv"] == argv
    assert settings["settings"]["budgets"] == [0, 0.1]
    assert settings["data"]["n_rows_used"] == 300
    assert set(settings["versions"]) >= {
        "skfrl", "scikit-learn", "torch", "skorch", "fairlearn"
    }  # fmt: skip
    assert "timestamp" in settings


def test_audit_of_a_user_csv_with_eng(tmp_path, monkeypatch):
    # A few ENG steps keep the test fast; the attack's own tests cover crafting.
    make_attack = cli._make_attack
    monkeypatch.setattr(
        cli,
        "_make_attack",
        lambda name: (
            make_attack(name).set_params(n_steps=5)
            if name == "eng"
            else make_attack(name)
        ),
    )
    X, y, s = make_biased_classification(
        n_samples=300, random_state=0, return_frame=True
    )
    frame = X.assign(
        city=["north", "south", "east"] * 100,
        label=y.map({0: "no", 1: "yes"}),
        group=s.map({0: "a", 1: "b"}),
    )
    frame.loc[3, "city"] = None  # a missing value: the row is dropped
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)
    results, fitted, context = run_audit(
        data=str(csv),
        target="label",
        sensitive="group",
        model="adversarial",
        attacks="eng",
        budgets="0.05",
        cv=2,
        max_epochs=2,
        n_jobs=1,
    )
    assert context["data"]["rows_dropped_missing"] == 1
    assert context["data"]["positive_label"] == "yes"
    assert set(context["y"]) == {0, 1}
    assert context["settings"]["budgets"] == [0, 0.05]  # clean added
    assert set(results["attack"]) == {"clean", "eng"}
    assert set(results.loc[results["attack"] == "eng", "n_poison"]) <= {7, 8}
    assert len(fitted.test_indices) == 2


@pytest.mark.parametrize(
    "options, message",
    [
        (["--dataset", "german", "--sensitive", "race"], "sex, age"),
        (["--dataset", "mnist"], "--dataset"),
        (["--model", "svm"], "--model"),
        (["--attacks", "eng,poison"], "unknown poison"),
        (["--budgets", "0,abc"], "'abc' is not a number"),
        (["--budgets", "0,1.5"], "--budgets"),
        (["--cv", "1"], "--cv"),
        (["--cv", "two"], "--cv"),
        (["--target", "y"], "--target needs --data"),
        (["--data", "x.csv"], "--target"),
        (["--data", "missing.csv", "--target", "y", "--sensitive", "s"], "no such"),
        (["--no-such-option"], "unrecognized"),
        (["--defense", "firewall"], "--defense"),
        (["--downstream", "svm"], "--downstream"),
    ],
)
def test_bad_options_are_one_line_errors(options, message, capsys):
    assert main(["audit", *options]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("skfrl audit: error:") and message in err


def test_missing_csv_column_is_a_one_line_error(tmp_path, capsys):
    csv = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, 2], "y": [0, 1]}).to_csv(csv, index=False)
    code = main(["audit", "--data", str(csv), "--target", "y", "--sensitive", "sex"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "--sensitive" in err and "'sex'" in err and "a, y" in err


def test_missing_external_data_is_one_line_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SKFRL_DATA", str(tmp_path))
    assert main(["audit", "--dataset", "compas"]) == 2
    err = capsys.readouterr().err.strip()
    assert "SKFRL_DATA" in err and "Traceback" not in err


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "skfrl.cli", "audit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--dataset" in result.stdout and "--budgets" in result.stdout


def test_audit_with_a_defense_reports_removed_rows(tmp_path):
    results, _, context = run_audit(
        "german",
        sensitive="sex",
        attacks="label_flip",
        budgets="0,0.1",
        cv=2,
        max_samples=300,
        max_epochs=2,
        n_jobs=1,
        defense="loss",
    )
    assert context["settings"]["defense"] == "loss"
    # 5 % of each 150-row training part (plus its poisons) is removed.
    assert (results.loc[results["attack"] == "clean", "n_removed"] == 8).all()
    flipped = results[results["attack"] == "label_flip"]
    assert (flipped["n_removed"] == 8).all() and (flipped["n_poison"] == 15).all()
    assert (flipped["n_poison_removed"] > 0).all()


@pytest.mark.parametrize("defense", ["gradient", "jtt"])
def test_audit_with_model_based_and_resampling_defenses(defense):
    results, _, context = run_audit(
        "german",
        sensitive="sex",
        attacks="label_flip",
        budgets="0,0.1",
        **TINY,
        defense=defense,
    )
    assert context["settings"]["defense"] == defense
    removed = results.loc[results["attack"] == "clean", "n_removed"]
    # The gradient filter removes 5 % of each 100-row part; JTT removes none.
    assert (removed == (5 if defense == "gradient" else 0)).all()
    assert results["value"].notna().all()


def test_audit_with_dro_trains_the_model_group_robustly(capsys):
    results, fitted, context = run_audit(
        "german",
        sensitive="sex",
        model="adversarial",
        attacks="random",
        budgets="0,0.1",
        **TINY,
        defense="dro",
    )
    frl = next(iter(fitted.estimators.values())).named_steps["frl"]
    assert frl.group_weighting == "dro" and frl.dro_groups == "label_sensitive"
    assert (results["n_removed"] == 0).all()
    assert main(["audit", "--model", "vfae", "--defense", "dro", *FAST]) == 2
    assert "--defense dro needs" in capsys.readouterr().err


@pytest.mark.parametrize("downstream", ["pgd", "l2l"])
def test_audit_with_an_adversarially_trained_downstream_classifier(downstream):
    results, fitted, context = run_audit(
        "german",
        sensitive="sex",
        attacks="random",
        budgets="0,0.1",
        **TINY,
        downstream=downstream,
    )
    clf = next(iter(fitted.estimators.values())).named_steps["classifier"]
    assert type(clf).__name__ == "RobustMLPClassifier" and clf.attack == downstream
    assert context["settings"]["downstream"] == downstream
    acc = results.loc[results["metric"] == "accuracy", "value"]
    assert acc.between(0, 1).all()
