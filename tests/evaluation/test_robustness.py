import numpy as np
import pandas as pd
import pytest
import sklearn
from fairlearn.metrics import demographic_parity_difference
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import make_scorer
from sklearn.pipeline import make_pipeline

from skfrl.attacks import LabelFlipping, PoisonGenerator, RandomPoisoning
from skfrl.datasets import make_biased_classification, make_preprocessor
from skfrl.evaluation import cross_validate_robustness, summarize
from skfrl.metrics import make_fairness_scorer, make_leakage_scorer
from skfrl.models import CFair

COLUMNS = ["attack", "budget", "fold", "repeat", "metric", "value", "fit_time"]


@pytest.fixture(scope="module")
def data():
    return make_biased_classification(n_samples=240, random_state=0, return_frame=True)


class RowCounter(ClassifierMixin, BaseEstimator):
    """Predicts the majority class and remembers how many rows it was fit on."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        self.n_fit_ = len(X)
        values, counts = np.unique(np.asarray(y), return_counts=True)
        self.classes_ = values
        self.majority_ = values[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


def n_fit(estimator, X, y):
    return estimator.n_fit_


def test_tidy_frame_with_clean_reference_once_per_fold(data):
    X, y, s = data
    results = cross_validate_robustness(
        RowCounter(),
        X,
        y,
        sensitive_features=s,
        attacks={"random": RandomPoisoning(), "flip": LabelFlipping()},
        budgets=[0.1, 0, 0.05],
        scoring={"n_fit": n_fit, "accuracy": "accuracy"},
        cv=3,
        random_state=0,
    )
    assert list(results.columns[:7]) == COLUMNS
    # 3 folds x (1 clean + 2 attacks x 2 budgets) x 2 metrics
    assert len(results) == 3 * 5 * 2
    clean = results[results["attack"] == "clean"]
    assert set(clean["budget"]) == {0.0} and len(clean) == 3 * 2
    assert (results.loc[results["attack"] != "clean", "budget"] > 0).all()
    assert list(pd.unique(results["attack"])) == ["clean", "random", "flip"]
    assert list(pd.unique(results["metric"])) == ["n_fit", "accuracy"]
    # Only the training part (2/3 of 240 rows) is poisoned.
    rows = results[results["metric"] == "n_fit"]
    assert (rows["value"] == 160 + rows["n_poison"]).all()
    assert set(rows.loc[rows["budget"] == 0.1, "n_poison"]) == {16}
    assert (results["fit_time"] >= 0).all()


def test_scorers_mix_sklearn_skfrl_and_fairlearn(data):
    X, y, s = data
    seen = []

    def group_count(estimator, X, y, sensitive_features):
        seen.append(np.asarray(sensitive_features))
        return float(len(np.unique(sensitive_features)))

    with sklearn.config_context(enable_metadata_routing=True):
        fairlearn_scorer = make_scorer(
            demographic_parity_difference, greater_is_better=False
        ).set_score_request(sensitive_features=True)
    results = cross_validate_robustness(
        make_pipeline(make_preprocessor(X), CFair(max_epochs=2), LogisticRegression()),
        X,
        y,
        sensitive_features=s,
        attacks=[RandomPoisoning()],
        budgets=[0, 0.1],
        scoring={
            "accuracy": "accuracy",
            "leakage": make_leakage_scorer(cv=3),
            "dp": make_fairness_scorer(),
            "dp_fairlearn": fairlearn_scorer,
            "groups": group_count,
        },
        cv=2,
        random_state=0,
    )
    assert list(pd.unique(results["attack"])) == ["clean", "randompoisoning"]
    wide = results.pivot_table(index=["attack", "fold"], columns="metric")["value"]
    assert wide["leakage"].between(-1, 0).all()
    np.testing.assert_allclose(wide["dp"], wide["dp_fairlearn"])
    assert (wide["groups"] == 2).all()
    # Each call got the 120 clean test rows' sensitive features.
    assert all(len(v) == 120 for v in seen)


@pytest.mark.slow
def test_same_numbers_for_n_jobs_1_and_2(data):
    X, y, s = data
    kwargs = dict(
        sensitive_features=s,
        attacks={"random": RandomPoisoning(), "flip": LabelFlipping()},
        budgets=[0, 0.1],
        scoring={"accuracy": "accuracy", "leakage": make_leakage_scorer(cv=3)},
        cv=2,
        random_state=3,
    )
    model = CFair(max_epochs=3)
    sequential = cross_validate_robustness(model, X, y, n_jobs=1, **kwargs)
    parallel = cross_validate_robustness(model, X, y, n_jobs=2, **kwargs)
    cols = ["attack", "budget", "fold", "metric", "value", "n_poison"]
    pd.testing.assert_frame_equal(sequential[cols], parallel[cols])


def test_unit_seeds_do_not_depend_on_the_grid(data):
    X, y, s = data
    # The logistic regression's accuracy depends on the random poisons.
    common = dict(sensitive_features=s, scoring={"accuracy": "accuracy"}, cv=2)
    small = cross_validate_robustness(
        LogisticRegression(),
        X,
        y,
        attacks={"random": RandomPoisoning(noise_scale=3.0)},
        budgets=[0.3],
        random_state=7,
        **common,
    )
    large = cross_validate_robustness(
        LogisticRegression(),
        X,
        y,
        attacks={
            "flip": LabelFlipping(),
            "random": RandomPoisoning(noise_scale=3.0),
        },
        budgets=[0, 0.05, 0.3],
        random_state=7,
        **common,
    )
    part = large[(large["attack"] == "random") & (large["budget"] == 0.3)]
    np.testing.assert_array_equal(small["value"], part["value"])
    assert "clean" not in set(small["attack"])
    other_seed = cross_validate_robustness(
        LogisticRegression(),
        X,
        y,
        attacks={"random": RandomPoisoning(noise_scale=3.0)},
        budgets=[0.3],
        random_state=8,
        **common,
    )
    assert not np.array_equal(small["value"], other_seed["value"])


def test_eng_attacks_each_folds_model_and_caller_objects_stay_unchanged(data):
    X, y, s = data
    X_copy, s_copy = X.copy(), s.copy()
    model = make_pipeline(
        make_preprocessor(X), CFair(max_epochs=2), LogisticRegression()
    )
    eng = PoisonGenerator(None, n_steps=2, budget=0.3)
    results, fitted = cross_validate_robustness(
        model,
        X,
        y,
        sensitive_features=s,
        attacks={"eng": eng},
        budgets=[0, 0.05],
        scoring="accuracy",
        cv=2,
        random_state=0,
        return_estimators=True,
    )
    assert set(results["metric"]) == {"accuracy"}
    assert set(results.loc[results["attack"] == "eng", "n_poison"]) == {6}
    assert set(fitted.estimators) == {
        (a, b, k) for a, b in [("clean", 0.0), ("eng", 0.05)] for k in (0, 1)
    }
    assert fitted.estimators[("eng", 0.05, 1)].predict(X).shape == (240,)
    tests = np.sort(np.concatenate(fitted.test_indices))
    np.testing.assert_array_equal(tests, np.arange(240))
    # Nothing the caller passed was fitted or modified.
    assert eng.victim is None and eng.budget == 0.3
    assert not hasattr(model[-1], "coef_")
    pd.testing.assert_frame_equal(X, X_copy)
    pd.testing.assert_series_equal(s, s_copy)


def test_folds_are_stratified_by_label_and_group(data):
    X, y, s = data
    _, fitted = cross_validate_robustness(
        RowCounter(),
        X,
        y,
        sensitive_features=s,
        attacks={},
        budgets=[0],
        scoring={"n_fit": n_fit},
        cv=4,
        random_state=0,
        return_estimators=True,
    )
    cells = y.astype(str) + s.astype(str)
    overall = cells.value_counts(normalize=True)
    for test in fitted.test_indices:
        share = cells.iloc[test].value_counts(normalize=True)
        assert np.abs(share - overall).max() < 0.03


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(sensitive_features=None), ValueError, "sensitive_features"),
        (dict(attacks={"clean": RandomPoisoning()}), ValueError, "reserved"),
        (dict(attacks={"x": LogisticRegression()}), TypeError, "attacks"),
        (dict(attacks="random"), TypeError, "attacks"),
        (dict(budgets=[0, 1.5]), ValueError, "budgets"),
        (dict(budgets=[-2]), ValueError, "budgets"),
        (dict(budgets=["a"]), TypeError, "budgets"),
        (dict(budgets=[]), ValueError, "budgets"),
        (dict(scoring=3), TypeError, "scoring"),
        (dict(scoring={"a": 3}), TypeError, "scoring"),
        (dict(scoring="no_such_scorer"), ValueError, "no_such_scorer"),
        (dict(cv=1), ValueError, "cv"),
        (dict(random_state="x"), TypeError, "random_state"),
        (dict(victim_training="scratch"), ValueError, "victim_training"),
        (dict(fine_tune_epochs=2), ValueError, "fine_tune_epochs"),
        (dict(victim_training="fine_tune"), TypeError, "fine_tune"),
    ],
)
def test_bad_arguments_name_the_parameter(data, kwargs, error, match):
    X, y, s = data
    params = dict(
        sensitive_features=s,
        attacks={"random": RandomPoisoning()},
        budgets=[0, 0.1],
        scoring="accuracy",
        cv=2,
    )
    params.update(kwargs)
    with pytest.raises(error, match=match):
        cross_validate_robustness(RowCounter(), X, y, **params)


def test_summarize_pairs_changes_by_fold():
    results = pd.DataFrame(
        {
            "attack": ["clean", "clean", "eng", "eng", "eng", "eng"],
            "budget": [0.0, 0.0, 0.1, 0.1, 0.2, 0.2],
            "fold": [0, 1, 0, 1, 0, 1],
            "metric": ["auc"] * 6,
            "value": [0.5, 0.7, 0.6, 0.8, 0.9, 0.7],
        }
    )
    summary = summarize(results)
    assert list(summary.columns) == [
        "attack",
        "budget",
        "metric",
        "mean",
        "sd",
        "n_folds",
        "change",
        "change_sd",
        "change_se",
        "ci_low",
        "ci_high",
        "significant",
    ]
    eng = summary[summary["attack"] == "eng"].set_index("budget")
    np.testing.assert_allclose(eng["change"], [0.1, 0.2])
    np.testing.assert_allclose(eng["change_sd"], [0.0, np.sqrt(0.08)], atol=1e-12)
    assert summary.loc[0, "change"] == 0
    no_ref = summarize(results[results["attack"] == "eng"])
    assert no_ref["change"].isna().all()
    with pytest.raises(ValueError, match="columns"):
        summarize(results.drop(columns="fold"))


def test_defense_sanitises_every_training_part_and_counts_poisons(data):
    from skfrl.defenses import LossFilter

    X, y, s = data
    results = cross_validate_robustness(
        RowCounter(),
        X,
        y,
        sensitive_features=s,
        attacks={"flip": LabelFlipping()},
        budgets=[0, 0.1],
        scoring={"n_fit": n_fit},
        cv=3,
        random_state=0,
        defense=LossFilter(contamination=0.1),
    )
    # The clean reference is sanitised too: 10 % of 160 rows go.
    clean = results[results["attack"] == "clean"]
    assert (clean["n_removed"] == 16).all() and (clean["n_poison_removed"] == 0).all()
    assert (clean["value"] == 160 - 16).all()
    flip = results[results["attack"] == "flip"]
    assert (flip["n_removed"] == 18).all()  # 10 % of 160 + 16 poisons
    assert (flip["value"] == 176 - 18).all()
    # Flipped labels are what a loss filter finds: most poisons are removed.
    assert flip["n_poison_removed"].mean() > 8
    assert (flip["n_poison_removed"] <= flip["n_poison"]).all()
    undefended = cross_validate_robustness(
        RowCounter(),
        X,
        y,
        sensitive_features=s,
        attacks={"flip": LabelFlipping()},
        budgets=[0.1],
        scoring={"n_fit": n_fit},
        cv=3,
        random_state=0,
    )
    assert (undefended["n_removed"] == 0).all()
    with pytest.raises(TypeError, match="defense"):
        cross_validate_robustness(
            RowCounter(),
            X,
            y,
            sensitive_features=s,
            attacks={"flip": LabelFlipping()},
            budgets=[0.1],
            scoring={"n_fit": n_fit},
            cv=3,
            defense=LogisticRegression(),
        )


def test_resampling_defense_upsamples_every_training_part(data):
    from skfrl.defenses import JTTReweighter

    X, y, s = data
    results = cross_validate_robustness(
        RowCounter(),
        X,
        y,
        sensitive_features=s,
        attacks={"flip": LabelFlipping()},
        budgets=[0, 0.1],
        scoring={"n_fit": n_fit},
        cv=3,
        random_state=0,
        defense=JTTReweighter(output="resample", upweight=5),
    )
    assert (results["n_removed"] == 0).all()
    base = 160 + results["n_poison"]
    extra = results["value"] - base
    # Each row of JTT's error set is repeated 4 more times; flipped labels
    # always land in it.
    assert (extra >= 0).all() and (extra % 4 == 0).all()
    assert (extra[results["attack"] == "flip"] >= 4 * 8).all()


class _Spy(RandomPoisoning):
    """RandomPoisoning that records the victim it was given (prefit or not)."""

    seen: list = []  # noqa: RUF012 - shared with the test on purpose

    def __init__(self, victim=None, prefit=False, *, budget=0.05, random_state=None):
        super().__init__(budget=budget, random_state=random_state)
        self.victim = victim
        self.prefit = prefit

    def fit_resample(self, X, y, *, sensitive_features):
        _Spy.seen.append((self.prefit, self.victim))
        return super().fit_resample(X, y, sensitive_features=sensitive_features)


def test_fine_tune_protocol_continues_each_folds_clean_model(data):
    X, y, s = data
    X = X.to_numpy(dtype=np.float32)
    _Spy.seen.clear()
    results, fitted = cross_validate_robustness(
        CFair(max_epochs=2),
        X,
        y,
        sensitive_features=s,
        attacks={"spy": _Spy()},
        budgets=[0, 0.1],
        scoring={"leak": make_leakage_scorer(cv=2)},
        cv=2,
        random_state=0,
        victim_training="fine_tune",
        fine_tune_epochs=1,
        return_estimators=True,
    )
    for fold in range(2):
        clean = fitted.estimators[("clean", 0.0, fold)]
        attacked = fitted.estimators[("spy", 0.1, fold)]
        # The clean reference continued for the same epochs as the attacked model.
        assert len(clean.history) == len(attacked.history) == 3
    # The attack crafted against a fitted clean model of two epochs.
    assert len(_Spy.seen) == 2
    for prefit, victim in _Spy.seen:
        assert prefit is True
        assert len(victim.history) == 2
    # Both continuations of a fold start from the same clean model: their
    # first two epochs of training history coincide.
    for fold in range(2):
        clean = fitted.estimators[("clean", 0.0, fold)]
        attacked = fitted.estimators[("spy", 0.1, fold)]
        np.testing.assert_allclose(
            clean.history[:2, "train_loss"], attacked.history[:2, "train_loss"]
        )
    again = cross_validate_robustness(
        CFair(max_epochs=2),
        X,
        y,
        sensitive_features=s,
        attacks={"spy": _Spy()},
        budgets=[0, 0.1],
        scoring={"leak": make_leakage_scorer(cv=2)},
        cv=2,
        random_state=0,
        victim_training="fine_tune",
        fine_tune_epochs=1,
    )
    pd.testing.assert_series_equal(results["value"], again["value"])


def test_fine_tune_epochs_default_to_max_epochs(data):
    X, y, s = data
    X = X.to_numpy(dtype=np.float32)
    _, fitted = cross_validate_robustness(
        CFair(max_epochs=2),
        X,
        y,
        sensitive_features=s,
        attacks={"random": RandomPoisoning()},
        budgets=[0, 0.1],
        scoring="accuracy",
        cv=2,
        random_state=0,
        victim_training="fine_tune",
        return_estimators=True,
    )
    assert len(fitted.estimators[("random", 0.1, 0)].history) == 4


def test_summarize_intervals_on_known_data():
    d = np.array([0.10, 0.08, 0.11, 0.07, 0.12, 0.09])
    results = pd.DataFrame(
        {
            "attack": ["clean"] * 6 + ["eng"] * 6,
            "budget": [0.0] * 6 + [0.1] * 6,
            "fold": list(range(6)) * 2,
            "repeat": [0, 0, 0, 1, 1, 1] * 2,
            "metric": ["auc"] * 12,
            "value": np.r_[np.full(6, 0.6), 0.6 + d],
        }
    )
    from scipy import stats

    sd = d.std(ddof=1)
    t975 = stats.t.ppf(0.975, 5)
    plain = summarize(results, interval="t").iloc[1]
    assert plain["change_se"] == pytest.approx(sd / np.sqrt(6))
    assert plain["ci_low"] == pytest.approx(d.mean() - t975 * sd / np.sqrt(6))
    assert plain["ci_high"] == pytest.approx(d.mean() + t975 * sd / np.sqrt(6))
    # Nadeau-Bengio: 6 differences from 2 repeats of 3-fold, test/train 1/2.
    corrected = summarize(results).iloc[1]
    se = sd * np.sqrt(1 / 6 + 1 / 2)
    assert corrected["change_se"] == pytest.approx(se)
    assert corrected["ci_high"] - corrected["change"] == pytest.approx(t975 * se)
    assert corrected["significant"]
    assert summarize(results, confidence=0.5).iloc[1]["ci_high"] < corrected["ci_high"]
    # No effect: the interval covers 0 and the change is not significant.
    noise = results.copy()
    noise.loc[6:, "value"] = 0.6 + np.array([0.02, -0.03, 0.01, -0.01, 0.02, -0.02])
    row = summarize(noise).iloc[1]
    assert row["ci_low"] < 0 < row["ci_high"] and not row["significant"]
    with pytest.raises(ValueError, match="confidence"):
        summarize(results, confidence=1.5)
    with pytest.raises(ValueError, match="interval"):
        summarize(results, interval="bootstrap")


def test_repeats_add_folds_and_keep_the_first_repeats_numbers(data):
    X, y, s = data
    params = dict(
        sensitive_features=s,
        attacks={"random": RandomPoisoning()},
        budgets=[0, 0.1],
        scoring={"n": n_fit},
        cv=2,
        random_state=0,
    )
    once = cross_validate_robustness(RowCounter(), X, y, **params)
    twice = cross_validate_robustness(RowCounter(), X, y, n_repeats=2, **params)
    assert sorted(twice["fold"].unique()) == [0, 1, 2, 3]
    assert twice.groupby("fold")["repeat"].first().tolist() == [0, 0, 1, 1]
    first = twice[twice["repeat"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        first[["attack", "budget", "fold", "value"]],
        once[["attack", "budget", "fold", "value"]],
    )
    assert summarize(twice)["n_folds"].eq(4).all()
    with pytest.raises(ValueError, match="n_repeats"):
        cross_validate_robustness(RowCounter(), X, y, n_repeats=0, **params)


def _planted(changes, lows, highs):
    n = len(changes)
    return pd.DataFrame(
        {
            "attack": ["clean"] + ["eng"] * (n - 1),
            "budget": [0.0] + [0.05] * (n - 1),
            "metric": ["auc"] + ["auc", "acc", "gap"][: n - 1],
            "change": changes,
            "ci_low": lows,
            "ci_high": highs,
            "significant": [
                lo > 0 or hi < 0 for lo, hi in zip(lows, highs, strict=True)
            ],
        }
    )


def test_verdict_names_a_planted_effect_and_its_interval():
    from skfrl.evaluation import robustness_verdict

    summary = _planted([0, 0.08, -0.05], [0, 0.03, -0.09], [0, 0.13, -0.01])
    lines = robustness_verdict(
        summary,
        harm={"auc": 1, "acc": -1},
        labels={"auc": "probe ROC AUC for sex", "acc": "accuracy"},
    )
    assert lines[0].startswith("**eng at 5 %** raised probe ROC AUC for sex by +0.080")
    assert "+0.030 to +0.130" in lines[0]
    assert "lowered accuracy by -0.050" in lines[0]
    assert "harmful direction" in lines[0]
    assert "probe ROC AUC for sex ±0.050" in lines[-1]


def test_verdict_says_when_nothing_changed_and_what_could_be_detected():
    from skfrl.evaluation import robustness_verdict

    summary = _planted([0, 0.01, 0.02], [0, -0.03, -0.01], [0, 0.05, 0.05])
    lines = robustness_verdict(summary, harm={"auc": 1, "acc": -1, "gap": 1})
    assert lines[0].startswith("No attack changed any judged metric beyond noise")
    assert "auc ±0.040" in lines[1] and "acc ±0.030" in lines[1]
    # An effect opposite to the attack's purpose is reported as such.
    summary = _planted([0, -0.06], [0, -0.1], [0, -0.02])
    lines = robustness_verdict(summary, harm={"auc": 1})
    assert "lowered auc" in lines[0] and "opposite" in lines[0]
    with pytest.raises(ValueError, match="harm"):
        robustness_verdict(summary, harm={"auc": 2})
    with pytest.raises(ValueError, match="columns"):
        robustness_verdict(summary.drop(columns="ci_low"), harm={"auc": 1})


@pytest.mark.parametrize("start_cost", [0.0, 1e9], ids=["parallel", "in-process"])
def test_short_grids_fall_back_to_one_process_with_the_same_numbers(
    data, monkeypatch, start_cost
):
    import joblib

    from skfrl.evaluation import _robustness

    X, y, s = data
    params = dict(
        sensitive_features=s,
        attacks={"random": RandomPoisoning()},
        budgets=[0, 0.1],
        scoring="accuracy",
        cv=2,
        random_state=0,
    )
    sequential = cross_validate_robustness(RowCounter(), X, y, **params)
    calls = []
    real = joblib.Parallel.__call__

    def spy(self, iterable):
        calls.append(self.n_jobs)
        return real(self, iterable)

    monkeypatch.setattr(_robustness, "_WORKER_START_S", start_cost)
    monkeypatch.setattr(_robustness.Parallel, "__call__", spy)
    parallel = cross_validate_robustness(RowCounter(), X, y, n_jobs=2, **params)
    pd.testing.assert_frame_equal(
        parallel.drop(columns=["fit_time", "attack_time"]),
        sequential.drop(columns=["fit_time", "attack_time"]),
    )
    # One Parallel call for the units after the first: on two workers when
    # starting them pays, else in this process.
    assert len(calls) == 1
    assert (calls[0] == 2) == (start_cost == 0)


@pytest.mark.parametrize("routing", [False, True])
def test_defense_works_with_metadata_routing_on_and_off(data, routing):
    from skfrl.defenses import LossFilter, SpectralSignatureFilter

    X, y, s = data
    for defense in (LossFilter(contamination=0.05), SpectralSignatureFilter()):
        with sklearn.config_context(enable_metadata_routing=routing):
            results = cross_validate_robustness(
                RowCounter(),
                X,
                y,
                sensitive_features=s,
                attacks={"random": RandomPoisoning()},
                budgets=[0, 0.1],
                scoring={"n": n_fit},
                cv=2,
                random_state=0,
                defense=defense,
            )
        assert (results["n_removed"] > 0).all()
