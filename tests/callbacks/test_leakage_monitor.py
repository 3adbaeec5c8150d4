"""LeakageMonitor: per-epoch held-out leakage that leaves training untouched."""

import contextlib

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback
from skorch.history import History

from skfrl.callbacks import LeakageMonitor, leakage_volatility
from skfrl.datasets import make_biased_classification
from skfrl.metrics import representation_leakage
from skfrl.models import AdversarialFairRepresentation


@pytest.fixture(scope="module")
def data():
    X, y, s = make_biased_classification(
        n_samples=160, n_features=6, n_informative=3, random_state=0
    )
    X = X.astype(np.float32)
    return X[:100], y[:100], s[:100], X[100:], s[100:]


def make_net(callbacks=None, max_epochs=4, **params):
    return AdversarialFairRepresentation(
        n_components=2,
        hidden_layer_sizes=(8,),
        n_adversaries=1,
        adversary_steps=1,
        adversary_hidden_size=8,
        batch_size=32,
        max_epochs=max_epochs,
        callbacks=callbacks,
        random_state=0,
        **params,
    )


def fit(net, data):
    X, y, s, _, _ = data
    return net.fit(X, y, sensitive_features=s)


class ModeSpy(Callback):
    """Records whether the module is in training mode at each epoch end."""

    def __init__(self):
        self.modes = []

    def on_epoch_end(self, net, **kwargs):
        self.modes.append([m.training for m in net.module_.modules()])


class RngEater(Callback):
    """Consumes torch's global generator: what the monitor must not do."""

    def on_epoch_end(self, net, **kwargs):
        torch.rand(1)


@pytest.mark.parametrize(("every", "epochs"), [(1, [1, 2, 3, 4]), (2, [2, 4])])
def test_records_on_every_nth_epoch(data, every, epochs):
    _, _, _, X_val, s_val = data
    monitor = LeakageMonitor(X_val, s_val, every=every)
    net = fit(make_net([("leak", monitor)]), data)
    recorded = [row["epoch"] for row in net.history if "leakage" in row]
    assert recorded == epochs
    values = net.history[:, "leakage"]
    assert len(values) == len(epochs)
    assert all(0.0 <= v <= 1.0 for v in values)


def test_custom_name_and_metric(data):
    _, _, _, X_val, s_val = data
    monitor = LeakageMonitor(X_val, s_val, metric="balanced_accuracy", name="bacc")
    net = fit(make_net([("leak", monitor)], max_epochs=2), data)
    assert len(net.history[:, "bacc"]) == 2
    assert "leakage" not in net.history[-1]


def test_last_value_is_the_fitted_models_leakage(data):
    _, _, _, X_val, s_val = data
    net = fit(make_net([("leak", LeakageMonitor(X_val, s_val))]), data)
    expected = representation_leakage(net.transform(X_val), s_val, cv=3, random_state=0)
    assert net.history[-1, "leakage"] == pytest.approx(expected, abs=1e-12)


def test_module_stays_in_training_mode(data):
    _, _, _, X_val, s_val = data
    spy = ModeSpy()
    net = make_net([("leak", LeakageMonitor(X_val, s_val)), ("spy", spy)])
    fit(net, data)
    assert len(spy.modes) == 4
    assert all(all(modes) for modes in spy.modes)


def test_monitor_does_not_perturb_training(data):
    """Same random_state: the same model, bit for bit, with or without."""
    _, _, _, X_val, s_val = data
    plain = fit(make_net(), data).transform(X_val)
    monitored = fit(make_net([("leak", LeakageMonitor(X_val, s_val))]), data)
    np.testing.assert_array_equal(monitored.transform(X_val), plain)
    # The comparison is sensitive: consuming torch's RNG changes the model
    # (dropout in the adversary and shuffling draw from it).
    perturbed = fit(make_net([("eat", RngEater())]), data).transform(X_val)
    assert not np.array_equal(perturbed, plain)


def test_measure_leaves_global_rng_and_mode_alone(data):
    _, _, _, X_val, s_val = data
    monitor = LeakageMonitor(X_val, s_val)
    net = fit(make_net([("leak", monitor)], max_epochs=1), data)
    net._set_training(True)
    state = torch.get_rng_state()
    value = monitor.measure(net)
    assert 0.0 <= value <= 1.0
    assert torch.equal(torch.get_rng_state(), state)
    assert all(m.training for m in net.module_.modules())


def test_uses_swapped_weights_of_weight_averaging(data):
    _, _, _, X_val, s_val = data

    class FakeAveraging(Callback):
        def __init__(self):
            self.entered = 0

        @contextlib.contextmanager
        def swapped(self, net):
            self.entered += 1
            yield net

    fake = FakeAveraging()
    # The model's own averaging off: the fake takes its callback name.
    net = make_net(
        [("weight_averaging", fake), ("leak", LeakageMonitor(X_val, s_val, every=2))],
        averaging_epochs=None,
    )
    fit(net, data)
    assert fake.entered == 2


def test_measures_the_averaged_model(data):
    if "averaging_epochs" not in make_net().get_params():
        pytest.skip("models have no averaging_epochs parameter")
    _, _, _, X_val, s_val = data
    net = fit(
        make_net([("leak", LeakageMonitor(X_val, s_val))], averaging_epochs=1.0),
        data,
    )
    # After training the module holds the average, which the monitor measured
    # at the last epoch.
    expected = representation_leakage(net.transform(X_val), s_val, cv=3, random_state=0)
    assert net.history[-1, "leakage"] == pytest.approx(expected, abs=1e-12)


def test_clone_keeps_the_monitor(data):
    _, _, _, X_val, s_val = data
    net = fit(make_net([("leak", LeakageMonitor(X_val, s_val, every=2))]), data)
    cloned = clone(net)
    ((_, monitor),) = cloned.callbacks
    assert isinstance(monitor, LeakageMonitor)
    assert monitor.every == 2
    fit(cloned, data)
    assert len(cloned.history[:, "leakage"]) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 0}, "every"),
        ({"every": 1.5}, "every"),
        ({"every": True}, "every"),
        ({"cv": 1}, "cv"),
        ({"metric": "auc"}, "metric"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_parameters_raise(data, kwargs, match):
    _, _, _, X_val, s_val = data
    net = make_net([("leak", LeakageMonitor(X_val, s_val, **kwargs))], max_epochs=1)
    with pytest.raises(ValueError, match=match):
        fit(net, data)


def test_length_mismatch_raises(data):
    _, _, _, X_val, s_val = data
    net = make_net([("leak", LeakageMonitor(X_val, s_val[:-1]))], max_epochs=1)
    with pytest.raises(ValueError, match="sensitive_features has 59 rows but X has 60"):
        fit(net, data)


def make_history(values):
    history = History()
    for epoch, value in enumerate(values, start=1):
        history.new_epoch()
        history.record("epoch", epoch)
        if value is not None:
            history.record("leakage", value)
    return history


def test_leakage_volatility_known_values():
    history = make_history([0.9, None, 0.7, 0.6, None, 0.8])
    stats = leakage_volatility(history, last=3)
    assert stats["n"] == 3
    assert stats["mean"] == pytest.approx(0.7)
    assert stats["sd"] == pytest.approx(0.1)  # sd of 0.7, 0.6, 0.8, ddof=1
    assert stats["range"] == pytest.approx(0.2)
    everything = leakage_volatility(history, last=None)
    assert everything["n"] == 4
    assert everything["sd"] == pytest.approx(np.std([0.9, 0.7, 0.6, 0.8], ddof=1))
    single = leakage_volatility(history, last=1)
    assert single["n"] == 1 and np.isnan(single["sd"]) and single["range"] == 0.0


def test_leakage_volatility_reads_a_net(data):
    _, _, _, X_val, s_val = data
    net = fit(make_net([("leak", LeakageMonitor(X_val, s_val))], max_epochs=3), data)
    stats = leakage_volatility(net, last=5)
    assert stats["n"] == 3
    assert stats["mean"] == pytest.approx(np.mean(net.history[:, "leakage"]))


def test_leakage_volatility_errors():
    with pytest.raises(ValueError, match="No epoch recorded 'auc'"):
        leakage_volatility(make_history([0.5, 0.6]), name="auc")
    with pytest.raises(ValueError, match="last"):
        leakage_volatility(make_history([0.5, 0.6]), last=0)
