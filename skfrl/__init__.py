"""skfrl: fair representation learning and its robustness to data poisoning.

skfrl provides scikit-learn compatible fair representation learning (FRL)
models built on skorch and PyTorch, leakage metrics and scorers, poisoning
attacks against FRL models, defenses and robustness evaluation.

Sub-packages are imported lazily by the user (``from skfrl.models import ...``)
so that ``import skfrl`` stays cheap.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
