import json
import subprocess
import sys

import pandas as pd
import pytest

from skfrl import cli
from skfrl.cli import _build_parser, main
from skfrl.datasets import make_biased_classification
from skfrl.evaluation import run_audit, write_audit_report
from skfrl.evaluation._audit import _parse_budgets
from skfrl.evaluation._audit_data import load_csv
from skfrl.evaluation._registry import ATTACKS

# Small, fast settings for every audit run here.
FAST = ["--max-epochs", "2", "--cv", "2", "--n-jobs", "1", "--repeats", "1"]
# run_audit's counterpart of FAST, on a 200-row sample.
TINY = dict(cv=2, max_samples=200, max_epochs=2, n_jobs=1, repeats=1)


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
    assert list(results.columns[:7]) == [
        "attack", "budget", "fold", "repeat", "metric", "value", "fit_time"
    ]  # fmt: skip
    assert set(results["attack"]) == {"clean", "label_flip"}
    assert set(results["metric"]) == {
        "accuracy", "probe_auc_s", "worst_probe_auc_s", "fld_s", "dp_difference",
        "eo_difference",
    }  # fmt: skip
    # Raw metrics, not negated scores: a probe AUC is in [0, 1].
    auc = results.loc[results["metric"] == "probe_auc_s", "value"]
    assert auc.between(0, 1).all()
    # The worst case of the probe family is at least the logistic probe's.
    worst = results.loc[results["metric"] == "worst_probe_auc_s", "value"]
    assert (worst.to_numpy() >= auc.to_numpy() - 1e-12).all()

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

    # The report opens with the threat model and the verdict.
    sections = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert sections[0] == "## Verdict"
    assert markdown.index("Threat model") < markdown.index("## Verdict")
    assert "Smallest change this evaluation could detect" in markdown
    assert "Verdict:" in captured.out
    summary = pd.read_csv(out / "summary.csv")
    assert {"change", "ci_low", "ci_high", "significant"} <= set(summary.columns)
    # Every file written is listed in the report.
    files_section = markdown.split("## Files")[1]
    for name in files:
        assert f"`{name}`" in files_section
    # Readable metric names, four-fifths rule, positive label.
    assert "probe ROC AUC for sex" in markdown
    assert "four-fifths rule" in markdown
    assert "positive label" in markdown
    # Code spans are verbatim: no Markdown escapes inside them.
    import re

    assert not re.search(r"`[^`\n]*\\[^`\n]*`", markdown)


def test_audit_of_a_user_csv_with_eng(tmp_path, monkeypatch):
    # A few ENG steps keep the test fast; the attack's own tests cover crafting.
    eng = ATTACKS["eng"]
    monkeypatch.setitem(
        ATTACKS, "eng", eng._replace(make=lambda: eng.make().set_params(n_steps=5))
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
        repeats=2,
    )
    assert context["data"]["rows_dropped_missing"] == 1
    assert context["data"]["positive_label"] == "yes"
    assert set(context["y"]) == {0, 1}
    assert context["settings"]["budgets"] == [0, 0.05]  # clean added
    assert set(results["attack"]) == {"clean", "eng"}
    assert set(results.loc[results["attack"] == "eng", "n_poison"]) <= {7, 8}
    # Two repeats of 2-fold cross-validation.
    assert len(fitted.test_indices) == 4
    assert sorted(results["repeat"].unique()) == [0, 1]


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


def test_audit_fine_tune_protocol_is_run_and_reported(tmp_path, capsys):
    results, fitted, context = run_audit(
        "german",
        sensitive="sex",
        attacks="eng",
        budgets="0,0.1",
        **TINY,
        protocol="fine-tune",
    )
    assert context["settings"]["protocol"] == "fine-tune"
    # Every model continued a clean model of max_epochs for max_epochs more.
    for model in fitted.estimators.values():
        assert len(model.named_steps["frl"].history) == 2 * TINY["max_epochs"]
    path = write_audit_report(results, fitted, context, tmp_path, elapsed=1.0)
    text = path.read_text()
    first = text.split("\n## ")[0]
    assert "Threat model: `fine-tune`" in first
    assert main(["audit", "--protocol", "scratch", *FAST]) == 2
    assert "--protocol" in capsys.readouterr().err


# -- input handling, all before any fitting -------------------------------------------
def _no_evaluation(monkeypatch):
    """Replace the evaluation by a stub that records its inputs; fits nothing."""
    calls = []

    def evaluate(estimator, X, y, *, sensitive_features, **kwargs):
        calls.append({"X": X, "y": y, "s": sensitive_features, **kwargs})
        return pd.DataFrame({"metric": [], "value": []}), None

    monkeypatch.setattr("skfrl.evaluation._audit.cross_validate_robustness", evaluate)
    return calls


def _csv_with_missing_values(tmp_path):
    X, y, s = make_biased_classification(
        n_samples=300, random_state=0, return_frame=True
    )
    frame = X.assign(
        label=y.map({0: "no", 1: "yes"}),
        group=s.map({0: "a", 1: "b"}),
        region=["north", "south", "east"] * 100,
    )
    frame.loc[[1, 2], "label"] = None  # no target: dropped, warned, counted
    frame.loc[5, "group"] = None
    frame.loc[[7, 8, 9], X.columns[0]] = None
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)
    return csv


def test_csv_rows_with_missing_values_are_dropped_warned_and_counted(
    tmp_path, monkeypatch
):
    calls = _no_evaluation(monkeypatch)
    csv = _csv_with_missing_values(tmp_path)
    message = (
        "--data: dropped 6 of 300 rows of data.csv: 2 with a missing target "
        "'label', 1 with a missing sensitive value, 3 with a missing feature value"
    )
    with pytest.warns(UserWarning, match=message):
        _, _, context = run_audit(
            data=str(csv),
            target="label",
            sensitive="group",
            attacks="random",
            **{**TINY, "max_samples": None},
        )
    info = context["data"]
    assert info["rows_dropped"] == {
        "missing target": 2, "missing sensitive": 1, "missing features": 3
    }  # fmt: skip
    assert info["rows_dropped_missing"] == 6 and info["n_rows_read"] == 300
    assert info["n_rows_available"] == info["n_rows_used"] == 294
    assert info["positive_label"] == "yes"
    assert len(calls) == 1 and len(calls[0]["y"]) == 294
    assert calls[0]["y"].notna().all() and set(calls[0]["y"]) == {0, 1}
    assert calls[0]["s"].notna().all() and not calls[0]["X"].isna().any().any()


def test_csv_numeric_target_with_missing_values_keeps_its_labels(tmp_path):
    csv = tmp_path / "d.csv"
    frame = pd.DataFrame(
        {"x": range(8), "g": list("abab") * 2, "y": [0, 1, None, 1, 0, 1, 0, 1]}
    )
    frame.to_csv(csv, index=False)
    with pytest.warns(UserWarning, match="1 with a missing target 'y'"):
        X, y, s, info = load_csv(str(csv), "y", "g")
    # Pandas reads the column as floats; the label is still "1", not "1.0".
    assert info["positive_label"] == "1" and list(y) == [0, 1, 1, 0, 1, 0, 1]
    assert info["rows_dropped"]["missing target"] == 1 and len(s) == 7


def test_audit_help_explains_missing_values_and_the_positive_label(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "rows with a missing value in the target" in text
    assert "dropped before the audit, with a warning" in text
    assert "compared as text (yes over no, 1 over 0" in text
    assert "positive class" in text
    assert "without a decimal point (10, not 10.0)" in text
    assert "several comma-separated" in text


@pytest.mark.parametrize(
    "budgets, message",
    [
        ("0,2.0", "--budgets: 2.0 is ambiguous; write 2 for 2 poisons or a "
         "fraction in (0, 1) such as 0.02"),
        ("1.0", "--budgets: 1.0 is ambiguous; write 1 for 1 poison or a "
         "fraction in (0, 1) such as 0.01"),
        ("1e2", "write 100 for 100 poisons"),
        ("0,nan", "--budgets: nan is not a finite number"),
        ("2.5", "neither a fraction in (0, 1) nor a whole number"),
    ],
)  # fmt: skip
def test_budgets_counts_are_written_without_a_decimal_point(
    budgets, message, capsys, monkeypatch
):
    monkeypatch.setattr(
        "skfrl.evaluation._audit.load_dataset", pytest.fail
    )  # refused before
    assert main(["audit", "--budgets", budgets]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"skfrl audit: error: {message}" or message in err
    assert err.startswith("skfrl audit: error: --budgets")


def test_budgets_parse_fractions_counts_and_the_clean_reference():
    budgets = _parse_budgets("0,0.05,2,10")
    assert budgets == [0, 0.05, 2, 10]
    assert [type(b) for b in budgets] == [float, float, int, int]


@pytest.mark.parametrize("inside", [False, True])
def test_out_naming_an_existing_file_is_refused_before_any_work(
    inside, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(cli, "run_audit", pytest.fail)  # no data, no training
    file = tmp_path / "report.md"
    file.write_text("keep me")
    out = file / "report" if inside else file
    assert main(["audit", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skfrl audit: error: --out:") and err.count("\n") == 0
    assert str(file) in err
    assert file.read_text() == "keep me"


def test_several_sensitive_attributes_reach_the_evaluation(tmp_path, monkeypatch):
    calls = _no_evaluation(monkeypatch)
    csv = _csv_with_missing_values(tmp_path)
    with pytest.warns(UserWarning, match="dropped 6 of 300"):
        _, _, context = run_audit(
            data=str(csv),
            target="label",
            sensitive="group, region",
            model="adversarial",
            attacks="eng,random",
            **TINY,
        )
    s = calls[0]["s"]
    assert isinstance(s, pd.DataFrame) and list(s.columns) == ["group", "region"]
    assert "group" not in calls[0]["X"] and "region" not in calls[0]["X"]
    info = context["data"]
    assert info["sensitive"] == "group, region"
    assert info["sensitive_attributes"] == ["group", "region"]
    assert len(info["groups"]) == 6 and "a & north" in info["groups"]
    assert sum(info["groups"].values()) == 200
    # The subsample is stratified by the intersectional cells.
    assert s.value_counts().min() >= 25


def test_several_sensitive_attributes_of_a_bundled_data_set(monkeypatch):
    calls = _no_evaluation(monkeypatch)
    _, _, context = run_audit(
        "german", sensitive="sex,age", model="vfae", attacks="random", **TINY
    )
    s, X = calls[0]["s"], calls[0]["X"]
    assert list(s.columns) == ["sex", "age"]
    assert set(s["age"]) == {"<=25", ">25"} and set(s["sex"]) == {"Female", "Male"}
    # Neither attribute, nor the column sex is read from, stays a feature.
    assert not {"age", "personal_status_sex"} & set(X.columns)
    assert context["data"]["positive_label"] == "good"
    assert context["data"]["rows_dropped"] == {}


@pytest.mark.parametrize(
    "options, message",
    [
        (["--dataset", "german", "--sensitive", "sex,age"],
         "--sensitive: --model cfair takes one sensitive attribute; got 2 (sex, "
         "age). Use --model adversarial"),
        (["--model", "cfair-eo", "--sensitive", "sex,race"],
         "--model cfair-eo takes one sensitive attribute"),
        (["--dataset", "german", "--sensitive", "sex,race", "--model", "vfae"],
         "must be one of sex, age (or several, comma-separated); got 'race'"),
        (["--sensitive", "sex,sex", "--model", "vfae"], "'sex' given twice"),
    ],
)  # fmt: skip
def test_several_sensitive_attributes_bad_options(
    options, message, capsys, monkeypatch
):
    _no_evaluation(monkeypatch)
    assert main(["audit", *options, "--out", "unused", *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skfrl audit: error:") and message in err


def test_several_sensitive_attributes_are_checked_before_fitting(tmp_path, monkeypatch):
    calls = _no_evaluation(monkeypatch)
    frame = pd.DataFrame(
        {
            "x": range(120),
            "y": [0, 1] * 60,
            "region": ["n", "s", "e"] * 40,
            "g": ["a"] * 60 + ["b"] * 60,
        }
    )
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    options = dict(data=str(csv), target="y", model="adversarial", **TINY)
    # eng and the anchoring attacks need a binary first attribute.
    with pytest.raises(ValueError, match=r"--attacks eng,nraa target a binary "
                       r"sensitive attribute \(the first of --sensitive, "
                       r"'region'\); it has 3 values"):  # fmt: skip
        run_audit(sensitive="region,g", attacks="eng,nraa", **options)
    # Every intersectional group needs rows in every fold.
    frame.loc[frame["g"] == "b", "region"] = ["n"] * 59 + ["e"]
    frame.to_csv(csv, index=False)
    with pytest.raises(ValueError, match="intersectional group 'b & e' of g, "
                       "region has 1 rows, too few for --cv 2"):  # fmt: skip
        run_audit(sensitive="g,region", attacks="random", **options)
    assert calls == []


def test_audit_of_several_sensitive_attributes_writes_its_report(tmp_path):
    out = tmp_path / "report"
    argv = ["audit", "--dataset", "german", "--sensitive", "sex,age", "--model",
            "adversarial", "--attacks", "random", "--budgets", "0,0.1",
            "--max-samples", "200", "--out", str(out), "-q", *FAST]  # fmt: skip
    assert main(argv) == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["data"]["sensitive_attributes"] == ["sex", "age"]
    assert "Male & >25" in settings["data"]["groups"]
    results = pd.read_csv(out / "results.csv")
    auc = results.loc[results["metric"] == "probe_auc_s", "value"]
    assert auc.between(0, 1).all() and results["value"].notna().all()


def test_report_keeps_code_spans_verbatim_and_escapes_table_cells(tmp_path):
    import re

    X, y, s = make_biased_classification(
        n_samples=200, random_state=0, return_frame=True
    )
    frame = X.assign(
        income=y.map({0: "<=50K", 1: ">50K"}), my_group=s.map({0: "a*", 1: "b_"})
    )
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)
    out = run_audit(
        data=str(csv),
        target="income",
        sensitive="my_group",
        attacks="random",
        budgets="0,0.1",
        **TINY,
    )
    path = write_audit_report(*out, tmp_path / "report", elapsed=1.0)
    markdown = path.read_text()
    assert "positive label: `>50K`" in markdown
    assert "`my_group`" in markdown
    assert not re.search(r"`[^`\n]*\\[^`\n]*`", markdown)
    # Group labels in tables are data: escaped there.
    assert "a\\*" in markdown
