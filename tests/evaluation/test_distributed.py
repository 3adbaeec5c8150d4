"""The evaluation distributed for real: a Dask LocalCluster of 2 processes.

dask[distributed] is in the ``test`` extra, so this test runs in CI (no
importorskip).
"""

import joblib
import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster

from skfrl.attacks import PoisonGenerator, RandomPoisoning
from skfrl.datasets import make_biased_classification
from skfrl.evaluation import cross_validate_robustness
from skfrl.metrics import make_fairness_scorer, make_leakage_scorer
from skfrl.models import CFair


@pytest.mark.slow
@pytest.mark.parametrize(
    "n_workers, threads", [(2, 1), (1, 2)], ids=["processes", "threads"]
)
def test_dask_cluster_gives_the_sequential_numbers(n_workers, threads):
    X, y, s = make_biased_classification(n_samples=200, random_state=1)
    kwargs = dict(
        sensitive_features=s,
        attacks={
            "eng": PoisonGenerator(None, n_steps=3),
            "random": RandomPoisoning(),
        },
        budgets=[0, 0.1],
        scoring={
            "accuracy": "accuracy",
            "leakage": make_leakage_scorer(cv=3),
            "dp": make_fairness_scorer(),
        },
        cv=2,
        random_state=0,
    )
    model = CFair(max_epochs=3)
    sequential = cross_validate_robustness(model, X, y, n_jobs=1, **kwargs)
    with (
        LocalCluster(
            n_workers=n_workers,
            processes=True,
            threads_per_worker=threads,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
        joblib.parallel_backend("dask"),
    ):
        distributed = cross_validate_robustness(model, X, y, **kwargs)
        workers = client.run(lambda: "ok")
    assert len(workers) == n_workers
    cols = ["attack", "budget", "fold", "metric", "value", "n_poison"]
    pd.testing.assert_frame_equal(sequential[cols], distributed[cols])
