"""One-shot (weight-sharing) search: DARTS and its variants (SPEC §2, §10).

:class:`DARTS` trains a space's supernet (``space.supernet()``), alternating
architecture (α) and weight steps, first or second order; :class:`DARTSPlus`
stops it early on skip-connect collapse or a stable α ranking;
:class:`FairDARTS` replaces softmax by sigmoid and adds the zero-one loss.
"""

from .darts import DARTS, DARTSPlus, FairDARTS, OneShotResult, hypergradient

__all__ = ["DARTS", "DARTSPlus", "FairDARTS", "OneShotResult", "hypergradient"]
