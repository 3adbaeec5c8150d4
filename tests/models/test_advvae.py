import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfrl.datasets import make_biased_classification, make_biased_interactions
from skfrl.models import AdversarialVAE

FAST = dict(
    n_components=8, hidden_layer_sizes=(32,), max_epochs=5, batch_size=64,
    lr=5e-3, random_state=0,
)  # fmt: skip


def _interactions(n_users=300, n_items=60, seed=0, **kw):
    return make_biased_interactions(
        n_users=n_users, n_items=n_items, random_state=seed, **kw
    )


def _probe_auc(Z, s):
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    proba = cross_val_predict(probe, Z, s, cv=3, method="predict_proba")[:, 1]
    return roc_auc_score(s, proba)


def _probe_r2(Z, s):
    pred = cross_val_predict(make_pipeline(StandardScaler(), Ridge()), Z, s, cv=3)
    return r2_score(s, pred)


def _split_held_out(X, fraction=0.2, seed=0):
    """Move a random ``fraction`` of every user's items to a held-out matrix."""
    rng = np.random.default_rng(seed)
    X = X.tocsr()
    fold_in, held = X.tolil(), sp.lil_matrix(X.shape)
    for i in range(X.shape[0]):
        items = X.indices[X.indptr[i] : X.indptr[i + 1]]
        for j in rng.choice(items, max(1, int(len(items) * fraction)), replace=False):
            fold_in[i, j] = 0
            held[i, j] = 1
    fold_in = fold_in.tocsr()
    fold_in.eliminate_zeros()
    return fold_in, held.tocsr()


def _recall_at_k(recommended, held):
    k = recommended.shape[1]
    hits = [
        len(set(recommended[i]) & set(held[i].indices)) / min(k, held[i].nnz)
        for i in range(held.shape[0])
    ]
    return float(np.mean(hits))


# -- interaction data (Mult-VAE mode) ------------------------------------------
def test_make_biased_interactions_shapes_and_determinism():
    X, S = _interactions()
    assert sp.issparse(X) and X.format == "csr" and X.shape == (300, 60)
    assert set(np.unique(X.data)) == {1.0}
    assert (X.getnnz(axis=1) >= 1).all()
    assert list(S.columns) == ["gender", "age"]
    assert S["gender"].dtype == np.int64 and S["age"].dtype == np.float64
    assert S["age"].between(18, 65).all()
    X2, S2 = _interactions()
    assert (X != X2).nnz == 0
    pd.testing.assert_frame_equal(S, S2)
    with pytest.raises(ValueError, match="gender_bias"):
        make_biased_interactions(gender_bias=-1.0)


def test_sparse_input_uses_multinomial_and_recommends():
    X, S = _interactions()
    vae = AdversarialVAE(**FAST).fit(X, sensitive_features=S)
    assert vae.likelihood_ == "multinomial"
    Z = vae.transform(X)
    assert Z.shape == (300, 8) and Z.dtype == np.float32
    scores = vae.score_items(X)
    assert scores.shape == (300, 60) and scores.dtype == np.float32
    rec = vae.recommend(X, k=5)
    assert rec.shape == (300, 5) and rec.dtype == np.int64
    # Seen items are excluded, and the list is ordered by score.
    for i in range(20):
        assert not set(rec[i]) & set(X[i].indices)
        assert np.all(np.diff(scores[i, rec[i]]) <= 0)
    rec_all = vae.recommend(X, k=5, exclude_seen=False)
    np.testing.assert_array_equal(rec_all, np.argsort(-scores, axis=1)[:, :5])
    # Any sparse format, and dense counts, are accepted at inference.
    np.testing.assert_allclose(vae.transform(X.tocoo()), Z)
    np.testing.assert_allclose(vae.transform(X.toarray()), Z, rtol=1e-5, atol=1e-6)


def test_dense_counts_with_multinomial_match_sparse_training():
    X, S = _interactions(n_users=200)
    a = AdversarialVAE(**FAST).fit(X, sensitive_features=S)
    b = AdversarialVAE(likelihood="multinomial", **FAST).fit(
        X.toarray(), sensitive_features=S
    )
    np.testing.assert_allclose(a.transform(X), b.transform(X), rtol=1e-5, atol=1e-6)


def test_interactions_adversary_removes_gender_and_age_keeps_recommendations():
    """fairness_weight=0 leaves gender and age in Z; the default removes much."""
    X, S = _interactions(
        n_users=1000, n_items=100, gender_bias=0.7, age_bias=2.0, seed=1
    )
    train, test = slice(0, 700), slice(700, None)
    fold_in, held = _split_held_out(X[test])
    popularity = np.asarray(X[train].sum(axis=0)).ravel()
    scores = np.tile(popularity, (fold_in.shape[0], 1)).astype(float)
    scores[fold_in.nonzero()] = -np.inf
    recall_pop = _recall_at_k(np.argsort(-scores, axis=1)[:, :10], held)
    params = dict(
        n_components=16, hidden_layer_sizes=(64,), max_epochs=30, batch_size=64,
        random_state=0,
    )  # fmt: skip
    results = {}
    for lam in (0.0, None):
        vae = AdversarialVAE(**params)
        if lam is not None:
            vae.set_params(fairness_weight=lam)
        vae.fit(X[train], sensitive_features=S.iloc[train])
        Z = vae.transform(fold_in)
        results[lam] = (
            _probe_auc(Z, S["gender"].iloc[test]),
            _probe_r2(Z, S["age"].iloc[test]),
            _recall_at_k(vae.recommend(fold_in, k=10), held),
        )
    (auc0, r2_0, rec0), (auc1, r2_1, rec1) = results[0.0], results[None]
    assert auc0 > 0.75 and r2_0 > 0.5
    assert auc1 < auc0 - 0.15
    assert r2_1 < r2_0 - 0.15
    # Both models beat the popularity ranking on held-out items (random
    # ranking would score about 10 / 75).
    assert rec0 > recall_pop + 0.05
    assert rec1 > recall_pop


def test_recommend_errors():
    X, S = _interactions(n_users=100)
    vae = AdversarialVAE(**dict(FAST, max_epochs=1)).fit(X)
    with pytest.raises(ValueError, match="k must be"):
        vae.recommend(X, k=0)
    with pytest.raises(ValueError, match="k must be"):
        vae.recommend(X, k=61)
    Xt, _, _ = make_biased_classification(n_samples=100, random_state=0)
    tab = AdversarialVAE(**dict(FAST, max_epochs=1)).fit(Xt)
    with pytest.raises(ValueError, match="likelihood='multinomial'"):
        tab.recommend(Xt)
    with pytest.raises(ValueError, match="non-negative"):
        AdversarialVAE(likelihood="multinomial", **FAST).fit(Xt)


def test_sparse_input_not_mutated():
    X, S = _interactions(n_users=100)
    X = X.astype(np.float32)
    data, indices, indptr = X.data.copy(), X.indices.copy(), X.indptr.copy()
    S_before = S.copy()
    vae = AdversarialVAE(**FAST).fit(X, sensitive_features=S)
    vae.transform(X)
    vae.recommend(X)
    np.testing.assert_array_equal(X.data, data)
    np.testing.assert_array_equal(X.indices, indices)
    np.testing.assert_array_equal(X.indptr, indptr)
    pd.testing.assert_frame_equal(S, S_before)


# -- tabular data ----------------------------------------------------------------
def test_tabular_adversary_reduces_leakage_and_can_fail():
    X, _, s = make_biased_classification(n_samples=1200, bias=1.0, random_state=0)
    params = dict(FAST, max_epochs=30)
    Z0 = AdversarialVAE(fairness_weight=0.0, **params).fit(X, sensitive_features=s)
    vae = AdversarialVAE(**params).fit(X, sensitive_features=s)
    assert vae.likelihood_ == "gaussian"
    auc0 = _probe_auc(Z0.transform(X), s)
    auc1 = _probe_auc(vae.transform(X), s)
    assert auc0 > 0.9
    assert auc1 < auc0 - 0.2


def test_mixed_likelihood_with_one_hot_groups():
    rng = np.random.default_rng(0)
    X, _, s = make_biased_classification(
        n_samples=300, n_features=4, n_informative=2, random_state=0
    )
    cat = rng.integers(0, 3, len(X))
    X = np.column_stack([X, np.eye(3)[cat]])
    vae = AdversarialVAE(categorical_groups=[[4, 5, 6]], **FAST)
    vae.fit(X, sensitive_features=s)
    assert vae.likelihood_ == "mixed"
    assert vae.module_.reconstruction.categorical_groups == [[4, 5, 6]]
    assert vae.score_items(X).shape == (300, 7)
    gauss = AdversarialVAE(likelihood="gaussian", categorical_groups=[[4, 5, 6]])
    gauss.set_params(**FAST).fit(X, sensitive_features=s)
    assert gauss.module_.reconstruction.categorical_groups == []


def test_set_output_pandas_and_dataframe_input():
    X, _, s = make_biased_classification(n_samples=200, random_state=0)
    Xdf = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    vae = AdversarialVAE(**FAST).set_output(transform="pandas")
    Z = vae.fit(Xdf, sensitive_features=pd.Series(s, name="s")).transform(Xdf)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.columns) == [f"adversarialvae_z{i}" for i in range(8)]
    np.testing.assert_array_equal(vae.feature_names_in_, Xdf.columns)


def test_same_random_state_same_result_and_rng_untouched():
    X, S = _interactions(n_users=200)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = AdversarialVAE(**FAST).fit(X, sensitive_features=S)
    after = torch.rand(1)
    assert before.item() == after.item()
    b = clone(a).fit(X, sensitive_features=S)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = clone(a).set_params(random_state=1).fit(X, sensitive_features=S)
    assert not np.allclose(a.transform(X), c.transform(X))


def test_pickle_round_trip_is_exact():
    X, S = _interactions(n_users=200)
    vae = AdversarialVAE(**FAST).fit(X, sensitive_features=S)
    loaded = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(vae.transform(X), loaded.transform(X))
    np.testing.assert_array_equal(vae.recommend(X), loaded.recommend(X))


def test_categorical_and_continuous_attributes_together():
    X, S = _interactions(n_users=200)
    S = S.assign(gender=S["gender"].map({0: "f", 1: "m"}))
    vae = AdversarialVAE(fairness_weight={"gender": 2.0}, **FAST)
    vae.fit(X, sensitive_features=S)
    kinds = {a.name: a.kind for a in vae.sensitive_attributes_}
    assert kinds == {"gender": "categorical", "age": "continuous"}
    assert len(vae.module_.adversaries) == 2
    assert vae.module_.reversal_scales == [2.0, 1.0]
    assert vae.module_.adversaries[0].n_heads == vae.n_adversaries
    with pytest.raises(ValueError, match="fairness_weight names unknown"):
        AdversarialVAE(fairness_weight={"race": 1.0}, **FAST).fit(
            X, sensitive_features=S
        )


def test_without_sensitive_features_trains_plain_vae():
    X, _ = _interactions(n_users=200)
    vae = AdversarialVAE(**FAST).fit(X)
    assert vae.sensitive_attributes_ == []
    assert len(vae.module_.adversaries) == 0
    assert "optimizer_adv" not in vae._optimizers
    batch = vae.history_[-1]["batches"][-1]
    assert batch["adv_loss"] == 0.0
    assert {"recon_loss", "kl_loss"} <= set(batch)


def test_early_stopping_and_verbose_with_sparse_input(capsys):
    X, S = _interactions(n_users=200)
    vae = AdversarialVAE(
        early_stopping=True, n_iter_no_change=2, verbose=1,
        **dict(FAST, max_epochs=100),
    ).fit(X, sensitive_features=S)  # fmt: skip
    assert "valid_loss" in vae.history_[-1]
    assert len(vae.history_) < 100
    assert "train_loss" in capsys.readouterr().out


def test_no_task_head():
    vae = AdversarialVAE()
    assert not hasattr(vae, "predict")
    assert not hasattr(vae, "predict_proba")


def test_kl_annealing_ramps_beta():
    X, _ = _interactions(n_users=128)
    vae = AdversarialVAE(anneal_steps=8, beta=0.5, **dict(FAST, max_epochs=2))
    vae.fit(X)
    assert vae._n_train_steps == 4
    assert vae._kl_weight() == pytest.approx(0.25)
    assert AdversarialVAE(beta=0.5)._kl_weight() == 0.5


def test_optimizer_adv_params_are_routed_the_skorch_way():
    X, S = _interactions(n_users=100)
    vae = AdversarialVAE(optimizer_adv__lr=0.05, **FAST).fit(X, sensitive_features=S)
    assert vae.optimizer_adv_.param_groups[0]["lr"] == 0.05
    assert vae.optimizer_.param_groups[0]["lr"] == FAST["lr"]


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"beta": -1.0}, "beta"),
        ({"input_dropout": 1.0}, "input_dropout"),
        ({"fairness_weight": -1.0}, "fairness_weight"),
        ({"anneal_steps": -1}, "anneal_steps"),
    ],
)
def test_bad_parameters(params, match):
    X, S = _interactions(n_users=50)
    with pytest.raises(ValueError, match=match):
        AdversarialVAE(**params).fit(X, sensitive_features=S)
