import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from torch.distributions import Normal, kl_divergence
from torch.nn import functional as F

from skfrl.datasets import load_adult, make_preprocessor, one_hot_groups
from skfrl.nn import (
    RFFMMD,
    GaussianEncoder,
    MixedReconstructionLoss,
    gaussian_kl_standard,
    pairwise_gaussian_kl,
    reparameterize,
    rff_mmd,
)


def _brute_pairwise_kl(mu, logvar):
    p = Normal(mu[:, None, :], (0.5 * logvar[:, None, :]).exp())
    q = Normal(mu[None, :, :], (0.5 * logvar[None, :, :]).exp())
    kl = kl_divergence(p, q).sum(-1)  # kl[i, j] = KL(q_i || q_j)
    n = len(mu)
    return kl.sum() / (n * (n - 1))


# -- Gaussian encoder, sampling, KL terms --------------------------------------
def test_gaussian_encoder_shapes_and_logvar_clamp():
    torch.manual_seed(0)
    enc = GaussianEncoder(5, (8, 8), 3, logvar_min=-2.0, logvar_max=1.0)
    with torch.no_grad():
        enc.net[-1].bias[3:] = 100.0  # push the log-variance far above the range
    mu, logvar = enc(torch.randn(7, 5))
    assert mu.shape == logvar.shape == (7, 3)
    assert torch.all(logvar == 1.0)
    with torch.no_grad():
        enc.net[-1].bias[3:] = -100.0
    assert torch.all(enc(torch.randn(7, 5))[1] == -2.0)


def test_reparameterize_moments_and_gradient():
    torch.manual_seed(0)
    mu = torch.full((20000, 2), 1.5, requires_grad=True)
    logvar = torch.log(torch.full((20000, 2), 4.0)).requires_grad_()
    z = reparameterize(mu, logvar)
    assert abs(z.mean().item() - 1.5) < 0.05
    assert abs(z.std().item() - 2.0) < 0.05
    z.sum().backward()
    assert torch.all(mu.grad == 1.0)
    assert logvar.grad is not None


def test_gaussian_kl_standard_matches_torch():
    torch.manual_seed(0)
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    expected = kl_divergence(
        Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(4), torch.ones(4))
    ).sum(-1)
    torch.testing.assert_close(gaussian_kl_standard(mu, logvar), expected)


@pytest.mark.parametrize("n, d, offset", [(2, 1, 0.0), (9, 3, 0.0), (64, 8, 50.0)])
def test_pairwise_kl_matches_brute_force_value_and_gradient(n, d, offset):
    torch.manual_seed(n)
    mu = (torch.randn(n, d, dtype=torch.float64) + offset).requires_grad_()
    logvar = torch.randn(n, d, dtype=torch.float64).requires_grad_()
    fast = pairwise_gaussian_kl(mu, logvar)
    (g_mu, g_lv) = torch.autograd.grad(fast, (mu, logvar))
    brute = _brute_pairwise_kl(mu, logvar)
    (b_mu, b_lv) = torch.autograd.grad(brute, (mu, logvar))
    torch.testing.assert_close(fast, brute)
    torch.testing.assert_close(g_mu, b_mu)
    torch.testing.assert_close(g_lv, b_lv)


def test_pairwise_kl_float32_is_stable_with_large_means_and_small_variances():
    torch.manual_seed(0)
    mu = torch.randn(256, 8) * 0.01 + 1000.0
    logvar = torch.full((256, 8), -10.0)
    expected = _brute_pairwise_kl(mu.double(), logvar.double()).float()
    torch.testing.assert_close(
        pairwise_gaussian_kl(mu, logvar), expected, rtol=1e-3, atol=1e-3
    )


def test_pairwise_kl_zero_for_identical_posteriors_and_single_sample():
    mu = torch.ones(5, 3)
    assert pairwise_gaussian_kl(mu, torch.zeros(5, 3)).item() == pytest.approx(0.0)
    assert pairwise_gaussian_kl(mu[:1], torch.zeros(1, 3)).item() == 0.0


# -- mixed reconstruction loss ----------------------------------------------
def test_all_gaussian_by_default():
    torch.manual_seed(0)
    x, x_hat = torch.randn(4, 3), torch.randn(4, 3)
    loss = MixedReconstructionLoss(3)
    torch.testing.assert_close(loss(x_hat, x), 0.5 * (x - x_hat).pow(2).sum(1))


def test_groups_use_softmax_cross_entropy_and_singletons_bernoulli():
    torch.manual_seed(0)
    # columns: 0 numeric | 1-3 one group | 4 numeric | 5 single-column group
    labels = torch.tensor([0, 2, 1, 0])
    onehot = F.one_hot(labels, 3).float()
    binary = torch.tensor([1.0, 0.0, 1.0, 1.0])
    x = torch.column_stack([torch.randn(4), onehot, torch.randn(4), binary])
    x_hat = torch.randn(4, 6)
    loss = MixedReconstructionLoss(6, categorical_groups=[[1, 2, 3], [5]])
    expected = (
        0.5 * (x_hat[:, [0, 4]] - x[:, [0, 4]]).pow(2).sum(1)
        + F.cross_entropy(x_hat[:, 1:4], labels, reduction="none")
        + F.binary_cross_entropy_with_logits(x_hat[:, 5], binary, reduction="none")
    )
    torch.testing.assert_close(loss(x_hat, x), expected)
    mean = loss.mean(x_hat)
    torch.testing.assert_close(mean[:, 1:4].sum(1), torch.ones(4))
    torch.testing.assert_close(mean[:, 5], torch.sigmoid(x_hat[:, 5]))
    torch.testing.assert_close(mean[:, [0, 4]], x_hat[:, [0, 4]])


def test_all_zero_group_row_costs_nothing():
    loss = MixedReconstructionLoss(2, categorical_groups=[[0, 1]])
    assert loss(torch.randn(1, 2), torch.zeros(1, 2)).item() == 0.0


@pytest.mark.parametrize(
    "groups, match",
    [([[0, 5]], "outside"), ([[0, 1], [1, 2]], "disjoint"), ([[]], "empty")],
)
def test_invalid_groups(groups, match):
    with pytest.raises(ValueError, match=match):
        MixedReconstructionLoss(3, categorical_groups=groups)


def test_reconstruction_loss_moves_and_pickles():
    loss = MixedReconstructionLoss(4, categorical_groups=[[0, 1]])
    assert {"numeric_idx", "group_0"} <= set(loss.state_dict())
    loaded = pickle.loads(pickle.dumps(loss))
    x = torch.tensor([[1.0, 0.0, 0.3, -0.2]])
    torch.testing.assert_close(loaded(x, x), loss(x, x))


# -- MMD with random Fourier features ------------------------------------------
def _exact_mmd2(a, b, bandwidth):
    def k(u, v):
        return torch.exp(-torch.cdist(u, v).pow(2) / (2 * bandwidth**2)).mean()

    return k(a, a) + k(b, b) - 2 * k(a, b)


def test_rff_mmd_approximates_exact_gaussian_mmd():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 2, generator=g, dtype=torch.float64)
    s = torch.arange(400) % 2
    z[s == 1] += 1.0
    exact = _exact_mmd2(z[s == 0], z[s == 1], 1.5).item()
    approx = rff_mmd(z, s, n_features=20000, bandwidth=1.5, generator=g).item()
    assert approx == pytest.approx(exact, rel=0.1)


def test_rff_mmd_groups_vs_rest_and_degenerate_batches():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(300, 3, generator=g)
    s = torch.arange(300) % 3
    assert rff_mmd(z, torch.zeros(300, dtype=torch.long), generator=g) == 0
    null = rff_mmd(z, s, generator=g)
    z2 = z.clone()
    z2[s == 2] += 2.0  # only group 2 differs
    assert rff_mmd(z2, s, generator=g) > 10 * null


def test_rffmmd_module_is_deterministic_differentiable_and_picklable():
    torch.manual_seed(3)
    a = RFFMMD(4, n_features=64, bandwidth=2.0)
    torch.manual_seed(3)
    b = RFFMMD(4, n_features=64, bandwidth=2.0)
    torch.testing.assert_close(a.weight, b.weight)
    assert {"weight", "bias"} == set(a.state_dict())
    z = torch.randn(50, 4, requires_grad=True)
    s = torch.arange(50) % 2
    value = a(z, s)
    value.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    loaded = pickle.loads(pickle.dumps(a))
    torch.testing.assert_close(loaded(z, s), value)


# -- one_hot_groups ---------------------------------------------------------------
def test_one_hot_groups_on_adult():
    X = load_adult(subset="train").data.iloc[:2000]
    pre = make_preprocessor(X).fit(X)
    Xt = pre.transform(X)
    groups = one_hot_groups(pre)
    categorical = [
        c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c].dtype)
    ]
    assert len(groups) == len(categorical)
    names = pre.get_feature_names_out()
    for column, group in zip(categorical, groups, strict=True):
        assert all(names[i].startswith(f"{column}_") for i in group)
        assert (Xt.iloc[:, group].sum(axis=1) == 1).all()
    covered = sorted(i for g in groups for i in g)
    numeric = [i for i in range(len(names)) if i not in covered]
    assert [names[i] for i in numeric] == [
        c for c in X.columns if pd.api.types.is_numeric_dtype(X[c].dtype)
    ]
    # It feeds the reconstruction loss directly.
    MixedReconstructionLoss(len(names), categorical_groups=groups)


def test_one_hot_groups_honours_order_drop_and_pipelines():
    X = pd.DataFrame(
        {
            "num": [0.0, 1.0, 2.0, 3.0],
            "bin": ["a", "b", "a", "b"],
            "tri": ["x", "y", "z", "x"],
        }
    )
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), ["num"]),
            ("bin", OneHotEncoder(drop="if_binary", sparse_output=False), ["bin"]),
            ("tri", make_pipeline(OneHotEncoder(sparse_output=False)), ["tri"]),
        ]
    ).fit(X)
    assert one_hot_groups(pre) == [[1], [2, 3, 4]]


def test_one_hot_groups_errors():
    X = pd.DataFrame({"c": ["a", "b"], "n": [1.0, 2.0]})
    with pytest.raises(NotFittedError, match="not fitted"):
        one_hot_groups(make_preprocessor(X))
    with pytest.raises(TypeError, match="ColumnTransformer"):
        one_hot_groups(OneHotEncoder().fit(X[["c"]]))
    assert one_hot_groups(make_preprocessor(X[["n"]]).fit(X[["n"]])) == []


def test_one_hot_groups_returns_python_ints():
    X = pd.DataFrame({"c": ["a", "b", "c"]})
    groups = one_hot_groups(make_preprocessor(X).fit(X))
    assert groups == [[0, 1, 2]]
    assert all(type(i) is int for i in groups[0])
    np.testing.assert_array_equal(groups[0], np.arange(3))
