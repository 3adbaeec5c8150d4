"""The probe family: leakage by probe, worst case, scorer and determinism."""

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from skfrl.metrics import (
    leakage_by_probe,
    make_leakage_scorer,
    mutual_information_lower_bound,
    probe_family,
    representation_leakage,
)

N = 900
NAMES = ["logistic", "ridge", "mlp", "hgb", "worst"]
NAMES_PATTERN = r"\['logistic', 'ridge', 'mlp', 'hgb', 'worst'\]"
# The same names, as a parameter's constraint lists them.
NAMES_OPTIONS = r"\{'logistic', 'ridge', 'mlp', 'hgb', 'worst'\}"


def _ring(rng, radius, n=N):
    """``s`` sets the radius of a ring in columns 0-1; columns 2-3 are noise."""
    angle = rng.uniform(0, 2 * np.pi, size=n)
    r = radius + 0.2 * rng.normal(size=n)
    Z = rng.normal(size=(n, 4))
    Z[:, 0] = r * np.cos(angle)
    Z[:, 1] = r * np.sin(angle)
    return Z


@pytest.fixture
def ring():
    """Binary ``s`` encoded non-linearly: radius 1 + s."""
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, size=N)
    return _ring(rng, 1.0 + s), s


@pytest.fixture
def continuous_ring():
    """Continuous ``s``: the radius itself, uniform on [1, 3]."""
    rng = np.random.default_rng(1)
    s = rng.uniform(1, 3, size=N)
    return _ring(rng, s), s


class KeepColumns(TransformerMixin, BaseEstimator):
    """Stand-in FRL model: keeps the columns ``keep`` (all with None)."""

    _skfrl_representation = True

    def __init__(self, keep=None):
        self.keep = keep

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X)
        return X if self.keep is None else X[:, self.keep]


@pytest.fixture
def global_rng():
    """Seeds NumPy's global random state, as the evaluation does per work unit.

    Yields ``seed(value)``; the state is restored afterwards.
    """
    state = np.random.get_state()  # noqa: NPY002
    yield lambda value: np.random.seed(value)  # noqa: NPY002
    np.random.set_state(state)  # noqa: NPY002


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


# ------------------------------------------------------------ probe_family


def test_probe_family_members():
    probes = probe_family(random_state=0)
    assert list(probes) == ["logistic", "mlp", "hgb"]
    logistic = probes["logistic"][-1]
    assert isinstance(logistic, LogisticRegression) and logistic.max_iter == 1000
    mlp = probes["mlp"][-1]
    assert isinstance(mlp, MLPClassifier)
    assert mlp.hidden_layer_sizes == (32,)
    assert (mlp.alpha, mlp.max_iter, mlp.early_stopping) == (1e-3, 300, False)
    assert isinstance(probes["hgb"], HistGradientBoostingClassifier)
    assert probes["hgb"].max_iter == 100
    for seed in (mlp.random_state, probes["hgb"].random_state):
        assert isinstance(seed, int)

    regressors = probe_family(random_state=0, kind="continuous")
    assert list(regressors) == ["ridge", "mlp", "hgb"]
    assert isinstance(regressors["ridge"][-1], Ridge)
    assert isinstance(regressors["mlp"], TransformedTargetRegressor)
    mlp_reg = regressors["mlp"].regressor[-1]
    assert isinstance(mlp_reg, MLPRegressor)
    assert isinstance(regressors["hgb"], HistGradientBoostingRegressor)
    # The same two seeds, whatever the kind.
    assert mlp_reg.random_state == mlp.random_state
    assert regressors["hgb"].random_state == probes["hgb"].random_state

    with pytest.raises(
        ValueError,
        match=r"'kind' parameter of probe_family must be a str among "
        r"\{'categorical', 'continuous'\}\. Got 'binary' instead",
    ):
        probe_family(kind="binary")


def test_probe_family_seeds_are_deterministic(global_rng):
    def seeds(probes):
        return probes["mlp"][-1].random_state, probes["hgb"].random_state

    assert seeds(probe_family(3)) == seeds(probe_family(3))
    assert seeds(probe_family(np.random.RandomState(3))) == seeds(probe_family(3))
    global_rng(7)
    first = seeds(probe_family())
    global_rng(7)
    assert seeds(probe_family()) == first


# ----------------------------------------------------------- worst case


def test_linear_probe_misses_ring_and_worst_finds_it(ring):
    Z, s = ring
    leakage = leakage_by_probe(Z, s, cv=3, random_state=0)
    assert list(leakage) == ["logistic", "mlp", "hgb", "worst"]
    assert leakage["logistic"] < 0.6
    assert leakage["mlp"] > 0.85 and leakage["hgb"] > 0.85
    assert leakage["worst"] > 0.85
    assert representation_leakage(Z, s, cv=3, random_state=0) < 0.6
    worst = representation_leakage(Z, s, probe="worst", cv=3, random_state=0)
    assert worst == leakage["worst"] > 0.85


@pytest.mark.parametrize(
    "metric", ["roc_auc", "balanced_accuracy", "accuracy", "log_loss"]
)
def test_worst_is_max_when_larger_leaks_more(ring, metric):
    Z, s = ring
    leakage = leakage_by_probe(Z, s, metric=metric, cv=3, random_state=0)
    assert leakage["worst"] == max(leakage["logistic"], leakage["mlp"], leakage["hgb"])
    assert leakage["worst"] > leakage["logistic"]
    worst = representation_leakage(
        Z, s, metric=metric, probe="worst", cv=3, random_state=0
    )
    assert worst == leakage["worst"]


def test_worst_ber_is_min(ring):
    Z, s = ring
    leakage = leakage_by_probe(Z, s, metric="ber", cv=3, random_state=0)
    assert leakage["worst"] == min(leakage["logistic"], leakage["mlp"], leakage["hgb"])
    assert leakage["logistic"] > 0.4  # about chance, 0.5
    assert leakage["worst"] < 0.15
    worst = representation_leakage(
        Z, s, metric="ber", probe="worst", cv=3, random_state=0
    )
    assert worst == leakage["worst"]


def test_named_probes_match_leakage_by_probe(ring):
    Z, s = ring
    leakage = leakage_by_probe(Z, s, cv=3, random_state=4)
    for name in ("logistic", "mlp", "hgb"):
        named = representation_leakage(Z, s, probe=name, cv=3, random_state=4)
        assert named == leakage[name]


def test_logistic_and_ridge_names_are_the_default(ring, continuous_ring, global_rng):
    Z, s = ring
    default = representation_leakage(Z, s, cv=3, random_state=2)
    assert representation_leakage(Z, s, probe="logistic", cv=3, random_state=2) == (
        default
    )
    global_rng(11)
    default = representation_leakage(Z, s, cv=3)
    global_rng(11)
    assert representation_leakage(Z, s, probe="logistic", cv=3) == default

    Zc, sc = continuous_ring
    default = representation_leakage(Zc, sc, metric="r2", cv=3, random_state=2)
    named = representation_leakage(
        Zc, sc, metric="r2", probe="ridge", cv=3, random_state=2
    )
    assert named == default


def test_multiclass_worst():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 3, size=N)
    Z = _ring(rng, 1.0 + s)
    leakage = leakage_by_probe(Z, s, cv=3, random_state=0)
    assert leakage["logistic"] < 0.65
    assert leakage["worst"] > 0.85


# ------------------------------------------------------------ determinism


def test_worst_is_deterministic(ring, global_rng):
    Z, s = ring
    first = leakage_by_probe(Z, s, cv=3, random_state=0)
    assert leakage_by_probe(Z, s, cv=3, random_state=0) == first
    # A RandomState instance is drawn from (folds, then probe seeds): two
    # instances in the same state give the same values.
    assert leakage_by_probe(
        Z, s, cv=3, random_state=np.random.RandomState(0)
    ) == leakage_by_probe(Z, s, cv=3, random_state=np.random.RandomState(0))
    # random_state=None: deterministic given NumPy's global random state.
    global_rng(3)
    unseeded = leakage_by_probe(Z, s, cv=3)
    after = np.random.get_state()[1].copy()  # noqa: NPY002
    global_rng(3)
    assert leakage_by_probe(Z, s, cv=3) == unseeded
    np.testing.assert_array_equal(np.random.get_state()[1], after)  # noqa: NPY002
    global_rng(3)
    assert representation_leakage(Z, s, probe="worst", cv=3) == unseeded["worst"]


# ---------------------------------------------------------- continuous s


def test_continuous_s_worst(continuous_ring):
    Z, s = continuous_ring
    r2 = leakage_by_probe(Z, s, metric="r2", cv=3, random_state=0)
    assert list(r2) == ["ridge", "mlp", "hgb", "worst"]
    assert r2["ridge"] < 0.1
    assert r2["worst"] == max(r2["ridge"], r2["mlp"], r2["hgb"]) > 0.8
    assert (
        representation_leakage(Z, s, metric="r2", probe="worst", cv=3, random_state=0)
        == r2["worst"]
    )
    mae = leakage_by_probe(Z, s, metric="mae", cv=3, random_state=0)
    assert mae["worst"] == min(mae["ridge"], mae["mlp"], mae["hgb"])
    assert mae["worst"] < 0.5 * mae["ridge"]
    assert (
        representation_leakage(Z, s, metric="mae", probe="worst", cv=3, random_state=0)
        == mae["worst"]
    )


# ----------------------------------------------------- the probes argument


def test_probes_argument(ring):
    Z, s = ring
    full = leakage_by_probe(Z, s, cv=3, random_state=0)
    subset = leakage_by_probe(Z, s, probes=["hgb", "logistic"], cv=3, random_state=0)
    assert list(subset) == ["hgb", "logistic", "worst"]
    assert subset["hgb"] == full["hgb"] and subset["logistic"] == full["logistic"]
    assert subset["worst"] == full["hgb"]

    custom = leakage_by_probe(
        Z,
        s,
        probes={
            "tree": DecisionTreeClassifier(max_depth=4, random_state=0),
            "lin": "logistic",
        },
        cv=3,
        random_state=0,
    )
    assert list(custom) == ["tree", "lin", "worst"]
    assert custom["lin"] == full["logistic"]
    assert custom["tree"] > 0.8 and custom["worst"] == custom["tree"]


def test_probes_argument_errors(ring):
    Z, s = ring
    with pytest.raises(ValueError, match=f"Unknown probe 'rf'.*{NAMES_PATTERN}"):
        leakage_by_probe(Z, s, probes=["logistic", "rf"])
    with pytest.raises(ValueError, match="'worst' cannot label a probe"):
        leakage_by_probe(Z, s, probes={"worst": "mlp"})
    with pytest.raises(ValueError, match="'worst' cannot label a probe"):
        leakage_by_probe(Z, s, probes=["worst"])
    with pytest.raises(ValueError, match="at least one probe"):
        leakage_by_probe(Z, s, probes=[])
    with pytest.raises(
        TypeError,
        match=r"'probes' parameter of leakage_by_probe must be an instance of "
        r"'collections.abc.Mapping', an array-like or None\. Got 'worst' instead",
    ):
        leakage_by_probe(Z, s, probes="worst")
    with pytest.raises(ValueError, match="probe='ridge' does not fit a categorical"):
        leakage_by_probe(Z, s, probes=["ridge"])


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize("name", ["rf", "Worst", "linear", ""])
def test_unknown_probe_name(ring, name):
    Z, s = ring
    match = f"'probe' parameter of \\w+ must be .*{NAMES_OPTIONS}.*Got {name!r} instead"
    with pytest.raises(ValueError, match=match):
        representation_leakage(Z, s, probe=name)
    with pytest.raises(ValueError, match=match):
        mutual_information_lower_bound(Z, s, probe=name)
    with pytest.raises(ValueError, match=match):
        make_leakage_scorer(probe=name)


def test_probe_name_must_fit_kind_of_s(ring, continuous_ring):
    Z, s = ring
    Zc, sc = continuous_ring
    with pytest.raises(
        ValueError,
        match=r"probe='logistic' does not fit a continuous s.*\['ridge', 'mlp', "
        r"'hgb', 'worst'\]",
    ):
        representation_leakage(Zc, sc, metric="r2", probe="logistic")
    with pytest.raises(ValueError, match="probe='ridge' does not fit a categorical"):
        representation_leakage(Z, s, probe="ridge")
    with pytest.raises(ValueError, match="probe='ridge' does not fit a categorical"):
        mutual_information_lower_bound(Z, s, probe="ridge")
    with pytest.raises(ValueError, match="probe='logistic' does not fit a continuous"):
        make_leakage_scorer("mae", probe="logistic")
    for metric in ("mi", "log_loss", "ber"):
        with pytest.raises(ValueError, match="probe='ridge' does not fit"):
            make_leakage_scorer(metric, probe="ridge")
    with pytest.raises(ValueError, match="uses no probe"):
        make_leakage_scorer("fld", probe="worst")


# --------------------------------------------------------------------- MI


def test_mutual_information_worst(ring):
    Z, s = ring
    by_name = {
        name: mutual_information_lower_bound(Z, s, probe=name, cv=3, random_state=0)
        for name in ("logistic", "mlp", "hgb")
    }
    assert by_name["logistic"] == mutual_information_lower_bound(
        Z, s, cv=3, random_state=0
    )
    worst = mutual_information_lower_bound(Z, s, probe="worst", cv=3, random_state=0)
    assert worst == max(by_name.values())
    assert by_name["logistic"] < 0.05 < 0.4 < worst <= np.log(2)


# ----------------------------------------------------------------- scorer


def test_scorer_repr_and_direct_call(ring):
    Z, s = ring
    scorer = make_leakage_scorer(probe="worst", cv=3, random_state=0)
    assert (
        repr(scorer)
        == "make_leakage_scorer(metric='roc_auc', probe='worst', cv=3, random_state=0)"
    )
    assert repr(make_leakage_scorer("ber", probe="mlp")) == (
        "make_leakage_scorer(metric='ber', probe='mlp')"
    )
    frl = KeepColumns().fit(Z)
    expected = representation_leakage(Z, s, probe="worst", cv=3, random_state=0)
    assert scorer(frl, Z, sensitive_features=s) == -expected
    hgb = make_leakage_scorer("ber", probe="hgb", cv=3, random_state=0)
    assert hgb(frl, Z, sensitive_features=s) == representation_leakage(
        Z, s, metric="ber", probe="hgb", cv=3, random_state=0
    )


def test_scorer_worst_in_cross_validate(ring, routing):
    Z, s = ring
    y = (Z[:, 2] > 0).astype(int)
    outer = StratifiedKFold(3, shuffle=True, random_state=1)
    scorer = make_leakage_scorer(probe="worst", cv=3, random_state=0)
    result = cross_validate(
        make_pipeline(KeepColumns(), LogisticRegression()),
        Z,
        y,
        scoring={"leak": scorer, "linear": make_leakage_scorer(cv=3, random_state=0)},
        params={"sensitive_features": s},
        cv=outer,
        error_score="raise",
    )
    expected = [
        -representation_leakage(Z[test], s[test], probe="worst", cv=3, random_state=0)
        for _, test in outer.split(Z, y)
    ]
    np.testing.assert_array_equal(result["test_leak"], expected)
    assert np.all(result["test_leak"] < -0.85)
    assert np.all(result["test_linear"] > -0.65)


def test_scorer_worst_in_grid_search(ring, routing):
    Z, s = ring
    y = (Z[:, 2] > 0).astype(int)
    search = GridSearchCV(
        make_pipeline(KeepColumns(), LogisticRegression()),
        {"keepcolumns__keep": [[0, 1], [2, 3]]},
        scoring=make_leakage_scorer(probe="worst", cv=3, random_state=0),
        cv=2,
        error_score="raise",
    ).fit(Z, y, sensitive_features=s)
    # A linear probe scores both column pairs at about 0.5; the worst case
    # sees the ring in columns 0-1.
    assert search.best_params_ == {"keepcolumns__keep": [2, 3]}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] < -0.85 and scores[1] > -0.65


def test_minority_removal_rate_names_the_mask_on_length_mismatch():
    from skfrl.metrics import minority_removal_rate

    with pytest.raises(ValueError, match="removed_mask has 4"):
        minority_removal_rate([True, False, False, True], ["a", "b", "a"])


def test_robustness_metrics_refuse_infinite_labels():
    from skfrl.metrics import attack_success_rate, worst_group_accuracy

    y = np.array([0.0, 1.0, np.inf, 1.0])
    with pytest.raises(ValueError, match="y_true contains infinite"):
        worst_group_accuracy(y, np.zeros(4), sensitive_features=["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="y_pred contains infinite"):
        attack_success_rate(y, 1.0)
    with pytest.raises(ValueError, match="target_label"):
        attack_success_rate(np.zeros(4), np.inf)
