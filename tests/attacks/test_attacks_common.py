"""skfrl's domain checks over every attack."""

from skfrl.attacks import (
    AnchorAttack,
    DirtyLabelBackdoor,
    LabelFlipping,
    PoisonGenerator,
    RandomPoisoning,
)
from skfrl.models import AdversarialFairRepresentation
from skfrl.utils.estimator_checks import parametrize_with_attack_checks

ATTACKS = [
    RandomPoisoning(random_state=0),
    LabelFlipping(random_state=0),
    LabelFlipping(flip_sensitive=True, random_state=0),
    AnchorAttack("random", random_state=0),
    AnchorAttack("non_random", random_state=0),
    # A bare FRL victim: ENG one-hot encodes mixed-type frames itself.
    PoisonGenerator(
        AdversarialFairRepresentation(max_epochs=2, random_state=0),
        n_steps=3,
        random_state=0,
    ),
    DirtyLabelBackdoor(random_state=0),
]


@parametrize_with_attack_checks(ATTACKS)
def test_attack_domain_checks(attack, check):
    check(attack)
