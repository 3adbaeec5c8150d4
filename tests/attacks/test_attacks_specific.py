import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline

from skfrl.attacks import (
    AnchorAttack,
    FeatureSpace,
    LabelFlipping,
    PoisonedEstimator,
    PoisonGenerator,
    RandomPoisoning,
    fld_torch,
)
from skfrl.datasets import load_german, make_biased_classification, make_preprocessor
from skfrl.metrics import fld_score, make_leakage_scorer
from skfrl.models import AdversarialFairRepresentation

FAST = dict(max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def german():
    return load_german(sensitive="age", return_X_y_s=True)


def test_fld_torch_matches_fld_score_ordering():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, 400)
    weak = rng.normal(size=(400, 3)) + 0.3 * s[:, None]
    strong = rng.normal(size=(400, 3)) + 2.0 * s[:, None]
    t = torch.as_tensor
    assert fld_torch(t(strong), t(s)) > fld_torch(t(weak), t(s))
    assert fld_score(strong, s) > fld_score(weak, s)


def test_eng_with_pipeline_victim_decodes_valid_rows(german):
    X, y, s = german
    victim = make_pipeline(make_preprocessor(X), AdversarialFairRepresentation(**FAST))
    attack = PoisonGenerator(victim, budget=0.05, n_steps=5, random_state=0)
    X_aug, y_aug, s_aug = attack.fit_resample(X, y, sensitive_features=s)
    poisons = X_aug.iloc[len(X) :]
    assert len(poisons) == 50 == attack.n_poison_
    assert (poisons.dtypes == X.dtypes).all()
    for col in X.select_dtypes("number"):
        assert poisons[col].between(X[col].min(), X[col].max()).all()
    assert attack.perturbations_.shape == (50, attack.feature_space_.n_features_out_)
    assert len(attack.history_) == 2 and len(attack.history_[0]) == 5
    assert 0 <= attack.matching_loss_ <= 2
    assert attack.crafting_time_ > 0


def test_eng_rejects_victims_it_cannot_attack():
    X, y, s = make_biased_classification(n_samples=100, random_state=0)
    with pytest.raises(TypeError, match="'victim' parameter"):
        PoisonGenerator(LogisticRegression()).fit_resample(X, y, sensitive_features=s)
    with pytest.raises(TypeError, match="BaseFairNet"):
        PoisonGenerator(PCA()).fit_resample(X, y, sensitive_features=s)
    with pytest.raises(ValueError, match="binary categorical"):
        PoisonGenerator(AdversarialFairRepresentation(**FAST)).fit_resample(
            X, y, sensitive_features=np.linspace(0, 1, 100)
        )


def test_anchor_targets_and_labels():
    X, y, s = make_biased_classification(n_samples=300, random_state=0)
    attack = AnchorAttack(budget=10, random_state=0)
    _, y_aug, s_aug = attack.fit_resample(X, y, sensitive_features=s)
    t_adv_neg, t_dis_pos = attack.targets_
    assert y[t_adv_neg] == 0 and y[t_dis_pos] == 1
    assert s[t_adv_neg] == attack.advantaged_group_
    # Poisons carry the target's group and the opposite label.
    np.testing.assert_array_equal(y_aug[300:], 1 - y[attack.base_indices_])
    np.testing.assert_array_equal(s_aug[300:], s[attack.base_indices_])


def test_label_flipping_flips_groups():
    X, y, s = make_biased_classification(n_samples=100, random_state=0)
    attack = LabelFlipping(budget=20, flip_sensitive=True, random_state=0)
    _, _, s_aug = attack.fit_resample(X, y, sensitive_features=s)
    assert np.all(s_aug[100:] != s[attack.base_indices_])


def test_anchor_needs_binary_labels():
    X, y, s = make_biased_classification(n_samples=100, random_state=0)
    with pytest.raises(ValueError, match="binary y"):
        AnchorAttack().fit_resample(X, y % 3 + (s == 1), sensitive_features=s)


def test_feature_space_round_trip_and_errors(german):
    X, _, _ = german
    space = FeatureSpace(make_preprocessor(X).fit(X)).fit(X)
    pd.testing.assert_frame_equal(
        space.decode(space.encode(X)), X.reset_index(drop=True)
    )
    with pytest.raises(TypeError, match="ColumnTransformer"):
        FeatureSpace(preprocessor=LogisticRegression()).fit(X)


def test_poisoned_estimator_in_cross_validate_with_routing(german):
    X, y, s = german
    frl = AdversarialFairRepresentation(**FAST)
    model = PoisonedEstimator(
        make_pipeline(make_preprocessor(X), frl, LogisticRegression(max_iter=500)),
        RandomPoisoning(budget=0.1, random_state=0),
    )
    with sklearn.config_context(enable_metadata_routing=True):
        frl.set_fit_request(sensitive_features=True)
        model.set_fit_request(sensitive_features=True)
        result = cross_validate(
            model,
            X,
            y,
            params={"sensitive_features": s},
            scoring={"accuracy": "accuracy", "leak": make_leakage_scorer(cv=3)},
            cv=3,
            return_estimator=True,
        )
    assert np.all(result["test_leak"] < 0)
    assert all(est.attack_.n_poison_ == 67 for est in result["estimator"])


def test_poisoned_estimator_without_routing_delegates():
    X, y, s = make_biased_classification(n_samples=200, random_state=0)
    model = PoisonedEstimator(
        AdversarialFairRepresentation(**FAST), LabelFlipping(budget=0.1, random_state=0)
    ).fit(X, y, sensitive_features=s)
    assert model.predict(X).shape == (200,)
    assert model.predict_proba(X).shape == (200, 2)
    assert 0 <= model.score(X, y) <= 1
    with pytest.raises(ValueError, match="sensitive_features"):
        PoisonedEstimator(AdversarialFairRepresentation(), RandomPoisoning()).fit(X, y)


def test_eng_ensemble_matches_independently_seeded_victims():
    X, y, s = make_biased_classification(n_samples=200, random_state=0)
    victim = AdversarialFairRepresentation(**FAST)
    kw = dict(budget=0.05, n_steps=3, random_state=0)
    one = PoisonGenerator(victim, **kw)
    one.fit_resample(X, y, sensitive_features=s)
    three = PoisonGenerator(victim, n_victims=3, **kw)
    X3, _, _ = three.fit_resample(X, y, sensitive_features=s)
    assert len(one.ensemble_) == 1 and len(three.ensemble_) == 3
    assert three.ensemble_[0] is three._frl
    # Distinct seeds give distinct victims, hence a different matching loss.
    Z = [m.transform(X.astype(np.float32)) for m in three.ensemble_]
    assert not np.allclose(Z[0], Z[1]) and not np.allclose(Z[1], Z[2])
    assert one.matching_loss_ != three.matching_loss_
    again = PoisonGenerator(victim, n_victims=3, **kw)
    np.testing.assert_array_equal(again.fit_resample(X, y, sensitive_features=s)[0], X3)
    with pytest.raises(ValueError, match="n_victims"):
        PoisonGenerator(victim, n_victims=0).fit_resample(X, y, sensitive_features=s)


def test_eng_contradict_labels_and_proxy_bases():
    X, y, s = make_biased_classification(n_samples=300, random_state=0)
    victim = AdversarialFairRepresentation(**FAST)
    attack = PoisonGenerator(
        victim,
        budget=0.1,
        n_steps=2,
        label_strategy="contradict",
        base_selection="proxy",
        random_state=0,
    )
    X_aug, y_aug, s_aug = attack.fit_resample(X, y, sensitive_features=s)
    base = attack.base_indices_
    s, s_p = np.asarray(s), np.asarray(s_aug)[len(X) :]
    # The recorded group contradicts the base row's, whose features reveal it.
    np.testing.assert_array_equal(s_p, 1 - s[base])
    # y follows the base row's true group, one way or the other.
    y_p = np.asarray(y_aug)[len(X) :]
    assert len(np.unique(y_p[s[base] == 0])) == 1
    assert len(np.unique(y_p[s[base] == 1])) == 1
    assert y_p[s[base] == 0][0] != y_p[s[base] == 1][0]
    # Proxy bases: rows whose features predict their own group most
    # confidently, well above a random row's confidence.
    probe = LogisticRegression(max_iter=1000).fit(X, s)
    own = probe.predict_proba(X)[np.arange(len(X)), s]
    assert own[base].mean() > np.quantile(own, 0.75)
    with pytest.raises(ValueError, match="base_selection"):
        PoisonGenerator(victim, base_selection="best").fit_resample(
            X, y, sensitive_features=s
        )


@pytest.mark.parametrize("victim_name", ["adversarial", "icvae"])
def test_eng_alignment_bases_align_better_than_random_rows(victim_name):
    from skfrl.inspection import TrainingGraph, TrainingRows
    from skfrl.models import ICVAE

    X, y, s = make_biased_classification(n_samples=300, random_state=0)
    victim = (
        AdversarialFairRepresentation(**FAST)
        if victim_name == "adversarial"
        else ICVAE(**FAST)
    )
    attack = PoisonGenerator(
        victim,
        budget=0.05,
        n_steps=1,
        base_selection="alignment",
        target_fraction=0.999,  # all rows: the target gradient below is the same
        random_state=0,
    )
    attack.fit_resample(X, y, sensitive_features=s)
    # Recompute every row's cosine with the attacker's gradient, labels as
    # the attack gives them: the chosen bases must rank well above average.
    rng = np.random.RandomState(0)
    S = pd.DataFrame({"s": s})
    y_p, S_p = attack._labels(np.asarray(y), S, np.arange(len(X)), rng)
    net = attack._frl

    rows = TrainingRows.from_data(net, X.astype(np.float32), y_p, S_p, input_name="y")
    graph = TrainingGraph(net, rows.take(np.arange(8)))
    codes = torch.as_tensor(np.asarray(s))
    g_adv = attack._adversarial_gradient(net, X, codes, graph.params)
    cos = np.array(
        [
            float(graph.field(rows.take(slice(i, i + 1))) @ g_adv)
            / float(graph.field(rows.take(slice(i, i + 1))).norm() * g_adv.norm())
            for i in range(len(X))
        ]
    )
    assert cos[attack.base_indices_].mean() > np.quantile(cos, 0.6)
