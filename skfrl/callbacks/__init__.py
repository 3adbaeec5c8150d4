"""skorch callbacks for fair representation learning models.

:class:`LeakageMonitor` records, every few epochs, how much a probe can
recover the sensitive attribute from a net's current representation of
held-out data (``net.history[:, "leakage"]``);
:func:`leakage_volatility` summarises the epoch-to-epoch spread of the last
recorded values. :class:`WeightAveraging` keeps an exponential moving
average of the weights and hands it to the user after training (skfrl's
models add it when ``averaging_epochs`` is set). Pass callbacks to any
skfrl model as ``callbacks=[("name", callback)]``.
"""

from ._averaging import WeightAveraging
from ._leakage import LeakageMonitor, leakage_volatility

__all__ = ["LeakageMonitor", "WeightAveraging", "leakage_volatility"]
