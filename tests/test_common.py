"""scikit-learn's common estimator checks over every public skfrl estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skfrl.models import (
    ICVAE,
    VFAE,
    AdversarialFairRepresentation,
    AdversarialVAE,
    CFair,
    LearnedFairRepresentation,
)

# Small, fast settings that still learn the checks' toy problems.
ESTIMATORS = [
    AdversarialFairRepresentation(
        max_epochs=30, batch_size=64, lr=1e-2, random_state=0
    ),
    CFair(max_epochs=30, batch_size=64, lr=1e-2, random_state=0),
    CFair(mode="eo", max_epochs=30, batch_size=64, lr=1e-2, random_state=0),
    CFair(group_weighting="dro", max_epochs=30, batch_size=64, lr=1e-2, random_state=0),
    LearnedFairRepresentation(max_epochs=30, batch_size=64, random_state=0),
    ICVAE(max_epochs=30, batch_size=64, lr=1e-2, random_state=0),
    ICVAE(supervised=False, max_epochs=30, batch_size=64, lr=1e-2, random_state=0),
    VFAE(max_epochs=30, batch_size=64, lr=1e-2, random_state=0),
    AdversarialVAE(max_epochs=10, batch_size=64, random_state=0),
]

# Checks expected to fail, with the reason; kept as short as possible.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
