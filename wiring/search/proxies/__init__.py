"""Zero-cost proxies: training-free scores of an architecture at initialisation (docs/search/proxies.md).

:func:`score` computes one proxy of a compiled module (``wiring.compile(G)``) on one minibatch (or none), as the
reference code defines it (SamsungLabs/zero-cost-nas, automl/NASLib; each function's docstring names its
source), on a private copy of the model: its weights, BN statistics, mode and requires_grad flags are left as
they were. :class:`ZeroCostEvaluator` is an objective for :func:`wiring.search.run`; :class:`ProxyFeatures`
turns proxies into surrogate features for ``BayesianOptimization`` and ``PredictorSearch``
(``proxy_features=``).
"""

from .activation import nwot_kernel, pre_pool
from .evaluator import Minibatch, ZeroCostEvaluator
from .features import ProxyFeatures
from .registry import NEEDS, PROXIES, Proxy, get, score, scores

__all__ = ["NEEDS", "PROXIES", "Minibatch", "Proxy", "ProxyFeatures", "ZeroCostEvaluator", "get", "nwot_kernel",
           "pre_pool", "score", "scores"]
