"""scikit-learn's common checks on PoisonedEstimator, and its tags."""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfrl.attacks import PoisonedEstimator, RandomPoisoning
from skfrl.models import AdversarialFairRepresentation

ESTIMATOR = PoisonedEstimator(
    AdversarialFairRepresentation(max_epochs=2, random_state=0),
    RandomPoisoning(budget=0.1, random_state=0),
)

# PoisonedEstimator.fit requires sensitive_features (every attack targets
# them) and raises a ValueError saying so; scikit-learn's checks call
# fit(X, y) without them, so every check that fits fails on that error
# before reaching what it tests. The checks that do not fit (clone,
# get_params, __init__ conventions, tags, repr ...) pass.
_NEEDS_S = (
    "fit requires sensitive_features (the attacks target them); the check "
    "calls fit(X, y) without them"
)
EXPECTED_FAILED_CHECKS = {
    name: _NEEDS_S
    for name in [
        "check_fit_score_takes_y",
        "check_estimators_overwrite_params",
        "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self",
        "check_readonly_memmap_input",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_estimators_dtypes",
        "check_complex_data",
        "check_dtype_object",
        "check_estimators_empty_data_messages",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimator_sparse_tag",
        "check_estimator_sparse_array",
        "check_estimator_sparse_matrix",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_classifier_data_not_an_array",
        "check_classifiers_one_label",
        "check_classifiers_classes",
        "check_classifiers_train",
        "check_classifiers_regression_target",
        "check_supervised_y_2d",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
        "check_dict_unchanged",
        "check_fit_idempotent",
        "check_fit_check_is_fitted",
        "check_n_features_in",
        "check_fit2d_predict1d",
        "check_requires_y_none",
    ]
}
EXPECTED_FAILED_CHECKS["check_transformer_preserve_dtypes"] = (
    "calls fit_transform, which PoisonedEstimator does not have (fit, then "
    "transform); its fit would need sensitive_features too"
)


@parametrize_with_checks(
    [ESTIMATOR], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_tags_follow_the_victim():
    tags = get_tags(ESTIMATOR)
    victim = get_tags(ESTIMATOR.estimator)
    assert tags.estimator_type == victim.estimator_type == "classifier"
    assert tags.transformer_tags is not None
    assert tags.classifier_tags is not None
    assert tags.target_tags.required
    assert not tags.input_tags.allow_nan
    assert not tags.input_tags.sparse
    # A victim without transform: no transformer tags.
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    tags = get_tags(PoisonedEstimator(pipe, RandomPoisoning()))
    assert tags.transformer_tags is None
    assert tags.estimator_type == "classifier"
