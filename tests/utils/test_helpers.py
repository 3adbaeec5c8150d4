"""The shared helpers of skfrl.utils: one place for each concept."""

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfrl.attacks import PoisonedEstimator, RandomPoisoning
from skfrl.datasets import make_biased_classification
from skfrl.models import CFair
from skfrl.utils import (
    SensitiveEncoder,
    check_fine_tune,
    check_X_y_s,
    fill_random_state,
    get_representation,
    has_representation,
    representation_pipeline,
    seed_from,
    sensitive_frame,
    split_representation,
)


class _ThirdPartyFRL(PCA):
    _skfrl_representation = True


@pytest.fixture(scope="module")
def data():
    return make_biased_classification(n_samples=120, random_state=0)


def test_split_representation_takes_the_last_frl_step_and_refuses_others():
    pipe = make_pipeline(StandardScaler(), CFair(), LogisticRegression())
    pre, step = split_representation(pipe)
    assert isinstance(step, CFair) and len(pre.steps) == 1
    frl = CFair()
    assert split_representation(frl) == (None, frl)
    # A third-party FRL transformer (opted in) is not one of skfrl's neural models.
    other = _ThirdPartyFRL()
    assert split_representation(other) == (None, other)
    with pytest.raises(TypeError, match="victim must be one of skfrl's neural"):
        split_representation(other, neural=True, input_name="victim")
    with pytest.raises(TypeError, match="StandardScaler"):
        split_representation(make_pipeline(StandardScaler(), PCA()))
    with pytest.raises(NotFittedError, match="fit CFair first"):
        split_representation(frl, fitted=True)


def test_get_representation_reaches_through_pipelines_and_wrappers(data):
    X, y, s = data
    frl = CFair(max_epochs=1, n_components=3, random_state=0)
    pipe = make_pipeline(StandardScaler(), frl, LogisticRegression())
    pipe.fit(X, y, cfair__sensitive_features=s)
    Z = get_representation(pipe, X)
    np.testing.assert_array_equal(Z, frl.transform(pipe[0].transform(X)))
    assert has_representation(pipe) and not has_representation(StandardScaler())
    assert representation_pipeline(pipe).steps[-1][1] is frl
    wrapped = PoisonedEstimator(
        CFair(max_epochs=1, n_components=3, random_state=0),
        RandomPoisoning(budget=0.1, random_state=0),
    ).fit(X, y, sensitive_features=s)
    assert get_representation(wrapped, X).shape == (len(X), 3)
    with pytest.raises(TypeError, match="fair-representation"):
        get_representation(StandardScaler().fit(X), X)


def test_check_X_y_s_refuses_before_work_and_never_mutates():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    X_before = X.copy()
    Xc, yc, S = check_X_y_s(X, [0, 1, 0], pd.Series(["a", "b", "a"], index=[7, 8, 9]))
    np.testing.assert_array_equal(X, X_before)
    assert list(S.index) == [0, 1, 2]
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_X_y_s(bad, [0, 1, 0], None)
    with pytest.raises(ValueError, match="needs at least two classes"):
        check_X_y_s(X, [0, 0, 0], None, min_classes=2)
    with pytest.raises(ValueError, match="requires sensitive_features"):
        check_X_y_s(X, [0, 1, 0], None, require_sensitive=True)
    with pytest.raises(ValueError, match="requires y"):
        check_X_y_s(X, None, None)
    with pytest.raises(ValueError, match="sensitive_features"):
        check_X_y_s(X, [0, 1, 0], ["a", "b"])
    assert sensitive_frame(np.array([[1, 2], [3, 4]])).shape == (2, 2)


def test_seeding_is_one_function():
    assert seed_from(3) == seed_from(3) != seed_from(4)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(random_state=1), PCA())
    fill_random_state(pipe, 5)
    assert pipe[1].random_state == 1  # a user's seed wins
    assert pipe[2].random_state == 5
    shallow = fill_random_state(make_pipeline(PCA()), 5, deep=False)
    assert shallow[0].random_state is None


def test_sensitive_encoder_encodes_new_rows_as_the_fit():
    enc = SensitiveEncoder(kinds={"age": "continuous"}).fit(
        pd.DataFrame({"sex": ["f", "m", "m"], "age": [1.0, 2.0, 3.0]}), n_samples=3
    )
    out = enc.transform(pd.DataFrame({"sex": ["m", "f"], "age": [2.0, 3.0]}))
    assert out["s_cat"].ravel().tolist() == [1, 0]
    np.testing.assert_allclose(out["s_cont"].ravel(), [0.0, 1.224745], rtol=1e-5)
    assert enc.group_codes(["f", "f", "m"]).tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="groups the model never saw"):
        enc.transform(pd.DataFrame({"sex": ["x"], "age": [1.0]}))
    with pytest.raises(ValueError, match="attribute"):
        enc.transform(pd.Series(["f"]))
    with pytest.raises(ValueError, match="not a categorical"):
        enc.group_codes([1.0], attribute=1)


def test_check_fine_tune_names_the_parameter(data):
    check_fine_tune(CFair(), 3)
    check_fine_tune(make_pipeline(StandardScaler(), CFair()))
    with pytest.raises(ValueError, match="fine_tune_epochs must be >= 1"):
        check_fine_tune(CFair(), 0, input_name="fine_tune_epochs")
    with pytest.raises(TypeError, match="epochs must be an int"):
        check_fine_tune(CFair(), 2.5)
    with pytest.raises(TypeError, match="got LogisticRegression"):
        check_fine_tune(LogisticRegression())
