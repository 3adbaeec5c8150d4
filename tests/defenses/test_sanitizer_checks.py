"""The sanitiser domain checks of skfrl.utils.estimator_checks, on every sanitiser."""

from sklearn.decomposition import PCA

from skfrl.defenses import (
    GradientFilter,
    KNNConsistencyFilter,
    LossFilter,
    SpectralSignatureFilter,
)
from skfrl.models import AdversarialFairRepresentation
from skfrl.utils.estimator_checks import parametrize_with_sanitizer_checks


def _victim():
    return AdversarialFairRepresentation(
        n_components=2, hidden_layer_sizes=(8,), max_epochs=2, lr=1e-2
    )


SANITIZERS = [
    KNNConsistencyFilter(random_state=0),
    KNNConsistencyFilter(on="both", contamination="auto", random_state=0),
    LossFilter(random_state=0),
    LossFilter(kind="confidence", contamination="auto", random_state=0),
    # A representation that takes no sensitive features.
    SpectralSignatureFilter(PCA(2), random_state=0),
    # A bare FRL model: the sanitiser puts the default preprocessing in
    # front, so with metadata routing the Pipeline must route the
    # sensitive features to it.
    SpectralSignatureFilter(_victim(), random_state=0),
    GradientFilter(_victim(), per_sample="single", random_state=0),
    GradientFilter(_victim(), reference_size=16, random_state=0),
    GradientFilter(
        _victim(), criterion="alignment", per_sample="single", random_state=0
    ),
]


@parametrize_with_sanitizer_checks(SANITIZERS)
def test_sanitizer_domain_checks(sanitizer, check):
    check(sanitizer)
