"""Every defense works with scikit-learn's metadata routing enabled or not."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.metadata_routing import get_routing_for_object

from skfrl.datasets import make_biased_classification
from skfrl.defenses import (
    GradientFilter,
    JTTReweighter,
    KNNConsistencyFilter,
    LossFilter,
    RobustMLPClassifier,
    SpectralSignatureFilter,
)
from skfrl.defenses import _spectral as spectral_module
from skfrl.models import AdversarialFairRepresentation


def _victim():
    return AdversarialFairRepresentation(
        n_components=2, hidden_layer_sizes=(8,), max_epochs=2, lr=1e-2
    )


@pytest.fixture(autouse=True)
def _short_default_representation(monkeypatch):
    # SpectralSignatureFilter() trains 20 epochs by default: 2 are enough for
    # the routing of its default Pipeline.
    default = spectral_module._default_representation
    monkeypatch.setattr(
        spectral_module,
        "_default_representation",
        lambda: default().set_params(max_epochs=2),
    )


@pytest.fixture(scope="module")
def data():
    X, y, s = make_biased_classification(n_samples=90, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["job"] = pd.Categorical(np.where(X[:, 0] > 0, "a", "b"))
    frame.index = np.arange(200, 200 + len(frame))
    y_s = pd.Series(y, index=frame.index, name="label")
    s_s = pd.Series(np.where(s == 1, "m", "f"), index=frame.index, name="sex")
    return {"numpy": (X, y, s), "pandas": (frame, y_s, s_s.astype("category"))}


# Every defense class; the failing cases are the internal defaults
# (LossFilter(), SpectralSignatureFilter()) and GradientFilter on a DataFrame.
DEFENSES = [
    KNNConsistencyFilter(random_state=0),
    LossFilter(random_state=0),
    SpectralSignatureFilter(random_state=0),
    GradientFilter(_victim(), per_sample="single", random_state=0),
    JTTReweighter(random_state=0),
    JTTReweighter(output="resample", random_state=0),
    RobustMLPClassifier(max_epochs=2, random_state=0),
]


def _run(defense, X, y, s):
    """Fit ``defense``; return what it decided (compared across modes)."""
    if isinstance(defense, RobustMLPClassifier):
        X = X.drop(columns="job").to_numpy(float) if isinstance(X, pd.DataFrame) else X
        return defense.fit(X, y).predict_proba(X)
    if isinstance(defense, JTTReweighter):
        if defense.output == "resample":
            X_up, _, _ = defense.fit_resample(X, y, sensitive_features=s)
            assert len(X_up) == len(defense.sample_indices_)
            return defense.sample_indices_
        return defense.fit(X, y, sensitive_features=s).sample_weight_
    X_k, y_k, s_k = defense.fit_resample(X, y, sensitive_features=s)
    assert len(X_k) == len(y_k) == len(s_k) == len(X) - defense.n_removed_
    return defense.scores_


@pytest.mark.parametrize("routing", [False, True], ids=["routing_off", "routing_on"])
@pytest.mark.parametrize("kind", ["numpy", "pandas"])
@pytest.mark.parametrize("defense", DEFENSES, ids=lambda d: type(d).__name__)
def test_defense_works_with_and_without_routing(defense, kind, routing, data):
    X, y, s = data[kind]
    with sklearn.config_context(enable_metadata_routing=routing):
        result = _run(clone(defense), X, y, s)
    # Routing changes nothing: the models get the same data in both modes.
    reference = _run(clone(defense), X, y, s)
    np.testing.assert_allclose(result, reference, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "sanitizer",
    [
        # FRL step with its request left unset, and a Pipeline none of whose
        # steps takes sensitive features.
        SpectralSignatureFilter(make_pipeline(StandardScaler(), _victim())),
        GradientFilter(make_pipeline(StandardScaler(), _victim())),
        LossFilter(make_pipeline(StandardScaler(), LogisticRegression())),
        SpectralSignatureFilter(make_pipeline(StandardScaler(), PCA(2))),
    ],
    ids=["spectral-frl", "gradient-frl", "loss-logreg", "spectral-pca"],
)
def test_user_pipelines_need_no_requests_and_are_not_mutated(sanitizer, data):
    X, y, s = data["numpy"]
    pipe = sanitizer.get_params()[
        "victim" if isinstance(sanitizer, GradientFilter) else "estimator"
    ]
    with sklearn.config_context(enable_metadata_routing=True):
        before = str(get_routing_for_object(pipe))
        on = clone(sanitizer).set_params(random_state=0)
        on.fit(X, y, sensitive_features=s)
        assert str(get_routing_for_object(pipe)) == before
        if "AdversarialFairRepresentation" in before:
            assert "'sensitive_features': None" in before
    off = clone(sanitizer).set_params(random_state=0).fit(X, y, sensitive_features=s)
    np.testing.assert_array_equal(on.removed_mask_, off.removed_mask_)
    np.testing.assert_allclose(on.scores_, off.scores_, rtol=1e-6, atol=1e-9)


def test_explicit_user_request_is_left_alone(data):
    # The caller's own FRL step keeps whatever it requested; the sanitiser
    # requests the sensitive features on its clone only.
    X, y, s = data["numpy"]
    with sklearn.config_context(enable_metadata_routing=True):
        frl = _victim().set_fit_request(sensitive_features=True)
        pipe = make_pipeline(StandardScaler(), frl)
        before = str(get_routing_for_object(pipe))
        f = SpectralSignatureFilter(pipe, random_state=0).fit(
            X, y, sensitive_features=s
        )
        assert str(get_routing_for_object(pipe)) == before
        assert f.estimator_ is not pipe and not hasattr(frl, "module_")
