"""Random graph models as topology DAGs (networkx only).

Every generator returns a ``networkx.DiGraph`` with nodes ``0..n-1``, edges
pointing from lower to higher index, and its provenance in
``G.graph["generator"]``. Seeds follow networkx: an int, a ``random.Random``
or None (keyword-only).
"""

from generators import checks
from generators._errors import GeneratorError, WiringError
from generators._models import barabasi_albert, erdos_renyi, watts_strogatz, ws_flex
from generators._orient import orient

__all__ = [
    "GeneratorError",
    "WiringError",
    "barabasi_albert",
    "checks",
    "erdos_renyi",
    "orient",
    "watts_strogatz",
    "ws_flex",
]
