"""Session-wide test settings (also applies to the doctests under skfrl/)."""

import os

import matplotlib
import torch

matplotlib.use("Agg")

# Under pytest-xdist every worker is a process of its own; one torch thread
# each keeps the workers from fighting over the two cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
