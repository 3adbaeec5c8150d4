"""Sanitisers: they find planted poisons and keep the fit_resample contract."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from skfrl.attacks import AnchorAttack, LabelFlipping, min_poison_count
from skfrl.datasets import make_biased_classification
from skfrl.defenses import (
    BaseSanitizer,
    GradientFilter,
    JTTReweighter,
    KNNConsistencyFilter,
    LossFilter,
    SpectralSignatureFilter,
)
from skfrl.defenses import _knn as knn_module
from skfrl.metrics import sanitizer_precision_recall
from skfrl.models import AdversarialFairRepresentation


def _victim(epochs=30, **params):
    return AdversarialFairRepresentation(
        n_components=4, hidden_layer_sizes=(16,), max_epochs=epochs, lr=1e-2, **params
    )


# Fast configurations for the contract checks.
FAST = [
    KNNConsistencyFilter(random_state=0),
    KNNConsistencyFilter(on="both", contamination="auto", random_state=0),
    LossFilter(random_state=0),
    LossFilter(kind="confidence", contamination="auto", random_state=0),
    SpectralSignatureFilter(PCA(2), random_state=0),
    GradientFilter(_victim(epochs=2), per_sample="single", random_state=0),
]


def _ids(objs):
    return [repr(o).replace("\n", "").replace(" ", "")[:60] for o in objs]


@pytest.fixture(scope="module")
def flipped():
    X, y, s = make_biased_classification(n_samples=300, random_state=0)
    attack = LabelFlipping(budget=0.05, random_state=0)
    X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    return X_p, y_p, s_p, attack.poison_mask_


@pytest.fixture(scope="module")
def group_flipped():
    # Groups far apart in X, poisons with flipped groups.
    X, y, s = make_biased_classification(n_samples=300, bias=4.0, random_state=0)
    attack = LabelFlipping(budget=0.05, flip_sensitive=True, random_state=0)
    X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    return X_p, y_p, s_p, attack.poison_mask_


@pytest.fixture(scope="module")
def anchored():
    X, y, s = make_biased_classification(n_samples=300, random_state=0)
    attack = AnchorAttack(budget=0.05, random_state=0)
    X_p, y_p, s_p = attack.fit_resample(X, y, sensitive_features=s)
    return X_p, y_p, s_p, attack.poison_mask_


def _frame_data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    y = (rng.normal(size=n) + s > 0.5).astype(int)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n),
            "hours": rng.normal(40, 5, n) + 3 * y,
            "job": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        },
        index=np.arange(500, 500 + n),
    )
    return (
        X,
        pd.Series(y, index=X.index, name="label"),
        pd.Series(np.where(s == 1, "m", "f"), index=X.index, name="sex").astype(
            "category"
        ),
    )


# -- detection -------------------------------------------------------------------
@pytest.mark.parametrize(
    "sanitizer, data, min_precision",
    [
        (KNNConsistencyFilter(random_state=0), "flipped", 0.5),
        (KNNConsistencyFilter(on="group", random_state=0), "group_flipped", 0.5),
        (LossFilter(random_state=0), "flipped", 0.7),
        (LossFilter(kind="confidence", random_state=0), "anchored", 0.35),
        # Without the adversary the representation keeps more of the label
        # structure, which is where label flips stand out.
        (
            SpectralSignatureFilter(_victim(20, fairness_weight=0.0), random_state=0),
            "flipped",
            0.3,
        ),
        (GradientFilter(_victim(50), random_state=0), "flipped", 0.4),
    ],
    ids=["knn", "knn-group", "loss", "confidence", "spectral", "grad-norm"],
)
def test_removes_planted_poisons(sanitizer, data, min_precision, request):
    X, y, s, poison = request.getfixturevalue(data)
    sanitizer = clone(sanitizer).set_params(contamination=0.05)
    X_k, y_k, s_k = sanitizer.fit_resample(X, y, sensitive_features=s)
    precision, recall = sanitizer_precision_recall(sanitizer.removed_mask_, poison)
    # The base rate is poison.mean() (about 0.05): every filter must beat it
    # by a wide margin on these obvious poisons.
    assert precision >= min_precision > 5 * poison.mean(), (precision, recall)
    assert len(X_k) == len(X) - sanitizer.n_removed_


def test_spectral_finds_a_planted_direction():
    # With the identity as "representation" (a Pipeline is used as given,
    # without scaling), a 5 % cluster shifted along one axis within class 0
    # is exactly what the top singular vector finds.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = np.r_[np.zeros(200, int), np.ones(200, int)]
    X[:20, 2] += 8.0
    f = SpectralSignatureFilter(
        make_pipeline(FunctionTransformer()), contamination=0.05
    )
    f.fit_resample(X, y)
    assert f.removed_mask_[:20].all() and f.n_removed_ == 20
    assert abs(f.directions_[0][2]) > 0.9


# -- contract ----------------------------------------------------------------------
@pytest.mark.parametrize("sanitizer", FAST, ids=_ids(FAST))
def test_containers_preserved_and_inputs_untouched(sanitizer):
    X, y, s = _frame_data()
    copies = [X.copy(), y.copy(), s.copy()]
    X_k, y_k, s_k = clone(sanitizer).fit_resample(X, y, sensitive_features=s)
    pd.testing.assert_frame_equal(X, copies[0])
    pd.testing.assert_series_equal(y, copies[1])
    pd.testing.assert_series_equal(s, copies[2])
    assert isinstance(X_k, pd.DataFrame) and (X_k.dtypes == X.dtypes).all()
    assert list(X_k.columns) == list(X.columns)
    assert isinstance(y_k, pd.Series) and y_k.dtype == y.dtype
    assert isinstance(s_k, pd.Series) and s_k.dtype == s.dtype
    pd.testing.assert_index_equal(X_k.index, y_k.index)
    pd.testing.assert_index_equal(X_k.index, s_k.index)

    Xn, yn, sn = (
        X[["age", "hours"]].to_numpy(float),
        y.to_numpy(),
        s.cat.codes.to_numpy(),
    )
    before = Xn.copy()
    fitted = clone(sanitizer)
    X_k, y_k, s_k = fitted.fit_resample(Xn, yn, sensitive_features=sn)
    np.testing.assert_array_equal(Xn, before)
    assert isinstance(X_k, np.ndarray) and X_k.dtype == Xn.dtype
    np.testing.assert_array_equal(X_k, Xn[fitted.sample_indices_])
    np.testing.assert_array_equal(y_k, yn[~fitted.removed_mask_])
    np.testing.assert_array_equal(s_k, sn[fitted.sample_indices_])


@pytest.mark.parametrize("sanitizer", FAST[::2], ids=_ids(FAST[::2]))
def test_contamination_respected_and_deterministic(sanitizer, flipped):
    X, y, s, _ = flipped
    n = len(X)
    for c in (0.05, 0.2, 0.5):
        a = clone(sanitizer).set_params(contamination=c, random_state=3)
        a.fit_resample(X, y, sensitive_features=s)
        assert a.n_removed_ == a.removed_mask_.sum() == round(c * n)
        np.testing.assert_array_equal(
            np.flatnonzero(~a.removed_mask_), a.sample_indices_
        )
        # The removed rows are the highest-scoring ones.
        assert a.scores_[a.removed_mask_].min() >= a.scores_[~a.removed_mask_].max()
    b = clone(a).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(a.removed_mask_, b.removed_mask_)
    np.testing.assert_array_equal(a.scores_, b.scores_)


def test_auto_thresholds(flipped):
    X, y, s, _ = flipped
    knn = KNNConsistencyFilter(contamination="auto").fit(X, y)
    np.testing.assert_array_equal(knn.removed_mask_, knn.scores_ > 0.5)
    loss = LossFilter(contamination="auto", random_state=0).fit(X, y)
    np.testing.assert_array_equal(loss.removed_mask_, loss.proba_own_ < 0.5)
    conf = LossFilter(kind="confidence", contamination="auto", random_state=0).fit(X, y)
    np.testing.assert_array_equal(conf.removed_mask_, loss.removed_mask_)


@pytest.mark.parametrize("sanitizer", FAST[::2], ids=_ids(FAST[::2]))
def test_bad_input(sanitizer, flipped):
    X, y, s, _ = flipped
    for c in (0, 0.6, -0.1, "most"):
        with pytest.raises(ValueError, match="contamination"):
            clone(sanitizer).set_params(contamination=c).fit_resample(
                X, y, sensitive_features=s
            )
    with pytest.raises(ValueError, match="y must be 1-D"):
        clone(sanitizer).fit_resample(X, y[:-1], sensitive_features=s)
    with pytest.raises(ValueError, match="sensitive_features"):
        clone(sanitizer).fit_resample(X, y, sensitive_features=s[:-1])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clone(sanitizer).fit_resample(X_nan, y, sensitive_features=s)
    with pytest.raises(ValueError, match="NaN"):
        clone(sanitizer).fit_resample(X, np.r_[np.nan, y[1:]], sensitive_features=s)
    with pytest.raises(TypeError, match="numeric"):
        clone(sanitizer).fit_resample(X.astype(str), y, sensitive_features=s)


# -- kNN ---------------------------------------------------------------------------
def test_knn_works_in_chunks(flipped, monkeypatch):
    X, y, s, _ = flipped
    queried = []

    class Recording(knn_module.NearestNeighbors):
        def kneighbors(self, X=None, *args, **kwargs):
            queried.append(len(X))
            return super().kneighbors(X, *args, **kwargs)

    monkeypatch.setattr(knn_module, "NearestNeighbors", Recording)
    small = KNNConsistencyFilter(on="both", chunk_size=37, random_state=0).fit(
        X, y, sensitive_features=s
    )
    assert max(queried) <= 37 and sum(queried) == len(X)
    whole = KNNConsistencyFilter(on="both", chunk_size=10_000, random_state=0).fit(
        X, y, sensitive_features=s
    )
    np.testing.assert_array_equal(small.scores_, whole.scores_)
    np.testing.assert_array_equal(small.removed_mask_, whole.removed_mask_)


def test_knn_excludes_the_row_itself_even_with_duplicates():
    X, y, _ = make_biased_classification(n_samples=50, random_state=0)
    X2, y2 = np.vstack([X, X]), np.r_[y, 1 - y]
    f = KNNConsistencyFilter(n_neighbors=1, contamination=0.05).fit(X2, y2)
    # Each row's only neighbour is its duplicate, which has the other label;
    # counting the row itself (at the same distance) would give 0 for some.
    assert np.all(f.scores_ == 1.0)


def test_knn_errors(flipped):
    X, y, s, _ = flipped
    with pytest.raises(ValueError, match="n_neighbors"):
        KNNConsistencyFilter(n_neighbors=len(X)).fit(X, y)
    with pytest.raises(ValueError, match="sensitive_features"):
        KNNConsistencyFilter(on="group").fit(X, y)
    with pytest.raises(ValueError, match="on"):
        KNNConsistencyFilter(on="labels").fit(X, y)


# -- other specifics -----------------------------------------------------------------
def test_loss_filter_needs_predict_proba(flipped):
    X, y, s, _ = flipped
    with pytest.raises((TypeError, ValueError), match="estimator"):
        LossFilter(LinearSVC()).fit(X, y)


def test_gradient_filter_alignment_matches_the_bound():
    # n <= 300: min_poison_count's diagonal curvature then uses every row,
    # so its influence vector is the same in both calls.
    X, y, s = make_biased_classification(n_samples=150, random_state=0)
    f = GradientFilter(
        _victim(epochs=3), criterion="alignment", per_sample="single", random_state=0
    )
    f.fit(X, y, sensitive_features=s)
    n_params = sum(p.numel() for p in f.victim_.module_.parameters())
    assert f.bound_.influence.shape == (n_params,)
    np.testing.assert_array_equal(f.scores_, f.alignments_)
    assert f.grad_norms_.shape == (len(X),) and np.all(f.grad_norms_ > 0)
    res = min_poison_count(
        f.victim_,
        X,
        y,
        sensitive_features=s,
        target_increase=0.1,
        candidates=(X[:20], y[:20], s[:20]),
        label_choices="keep",
        per_sample="single",
        curvature="diagonal",
        random_state=1,
    )
    np.testing.assert_allclose(res.candidate_grad_norms, f.grad_norms_[:20], rtol=1e-4)
    np.testing.assert_allclose(
        res.candidate_alignments, f.alignments_[:20], rtol=1e-3, atol=1e-8
    )
    with pytest.raises(ValueError, match="sensitive_features"):
        GradientFilter(_victim(epochs=1), criterion="alignment").fit(X, y)


def test_gradient_filter_rejects_non_frl_victims(flipped):
    X, y, s, _ = flipped
    with pytest.raises(TypeError, match="victim"):
        GradientFilter(LinearSVC()).fit(X, y, sensitive_features=s)


def test_all_sanitizers_share_the_base_class():
    assert all(isinstance(f, BaseSanitizer) for f in FAST)


def test_gradient_filter_criterion_does_not_shadow_score(flipped):
    # The parameter used to be called ``score``, which hid the estimator
    # method name: hasattr(f, "score") was True and gave a string.
    X, y, s, _ = flipped
    f = GradientFilter(_victim(epochs=1))
    assert not hasattr(f, "score")
    assert f.get_params()["criterion"] == "norm"
    with pytest.raises(TypeError, match="score"):
        GradientFilter(_victim(epochs=1), score="norm")
    with pytest.raises(ValueError, match="criterion"):
        GradientFilter(_victim(epochs=1), criterion="length").fit(
            X, y, sensitive_features=s
        )


@pytest.mark.parametrize(
    "defense", [*FAST[::2], JTTReweighter()], ids=_ids([*FAST[::2], JTTReweighter()])
)
def test_sparse_x_is_refused_with_a_clear_message(defense, flipped):
    X, y, s, _ = flipped
    for container in (sp.csr_matrix, sp.csc_array):
        # It used to say "got dtype object".
        with pytest.raises(TypeError, match=r"X is a sparse .*not supported.*toarray"):
            clone(defense).fit(container(X), y, sensitive_features=s)


@pytest.mark.parametrize(
    "defense", [FAST[0], FAST[2], JTTReweighter()], ids=["knn", "loss", "jtt"]
)
def test_object_arrays_of_numbers_are_numbers(defense, flipped):
    X, y, s, _ = flipped
    a = clone(defense).set_params(random_state=0).fit(X, y, sensitive_features=s)
    b = clone(defense).set_params(random_state=0)
    b.fit(X.astype(object), y, sensitive_features=s)
    assert b.n_features_in_ == a.n_features_in_ == X.shape[1]
    attr = "error_mask_" if isinstance(defense, JTTReweighter) else "removed_mask_"
    np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    X_bad = X.astype(object)
    X_bad[0, 0] = "many"
    with pytest.raises(TypeError, match="X must be numeric"):
        clone(defense).fit(X_bad, y, sensitive_features=s)


def test_feature_names_are_recorded(flipped):
    X, y, s, _ = flipped
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(X.shape[1])])
    f = KNNConsistencyFilter().fit(frame, y)
    np.testing.assert_array_equal(f.feature_names_in_, frame.columns)
    f.fit(X, y)  # refitting on an array forgets them
    assert not hasattr(f, "feature_names_in_") and f.n_features_in_ == X.shape[1]
