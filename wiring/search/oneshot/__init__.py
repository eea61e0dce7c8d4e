"""One-shot (weight-sharing) search: DARTS and its variants (SPEC §2, §10).

:class:`DARTS` trains a space's supernet (``space.supernet()``), alternating
architecture (α) and weight steps, first or second order; :class:`DARTSPlus`
stops it early on skip-connect collapse or a stable α ranking;
:class:`FairDARTS` replaces softmax by sigmoid and adds the zero-one loss.
"""

from .darts import DARTS, DARTSPlus, FairDARTS, OneShotResult, hypergradient
from .single_path import SPOS, FairNAS, inherit, recalibrate_bn, set_arch
from .proxyless import GDAS, ProxylessNAS, SampledOneShotResult, layer_latencies

__all__ = ["DARTS", "DARTSPlus", "FairDARTS", "FairNAS", "OneShotResult", "SPOS", "hypergradient", "inherit",
           "recalibrate_bn", "set_arch"]
__all__ += ["GDAS", "ProxylessNAS", "SampledOneShotResult", "layer_latencies"]
from .enas import ENAS
__all__ += ["ENAS"]
