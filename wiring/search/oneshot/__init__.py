"""One-shot (weight-sharing) search on a space's supernet (docs/papers.md §2, §4, §8–§10).

- :class:`DARTS` alternates architecture (α) and weight steps, first or second
  order; :class:`DARTSPlus` stops it early on skip-connect collapse or a stable
  α ranking; :class:`FairDARTS` replaces softmax by sigmoid and adds the
  zero-one loss.
- :class:`ENAS` trains shared weights along paths sampled by a REINFORCE
  controller and picks the best of its samples on validation.
- :class:`SPOS` and :class:`FairNAS` train one path per step (SPOS: uniform or
  by cost bins; FairNAS: strictly fair), then evolve architectures on the
  inherited weights; :func:`inherit` exports one with its weights.
- :class:`ProxylessNAS` (binarised gates, expected-latency loss) and
  :class:`GDAS` (hard Gumbel-softmax) sample paths while learning α.
- :class:`OneShotModel` (Bender et al. 2018) trains the supernet with scheduled
  path dropout, then ranks sampled architectures with the shared weights.

Every strategy derives from :class:`OneShotStrategy` (:mod:`.base`: the shared settings, hooks and
:class:`OneShotResult`) and declares what it needs of a space (``needs``, :data:`NEEDS`); a space lacking
something is refused at construction with one line saying what. Every strategy takes ``checkpoint=path``: the search is saved there after every
epoch and resumed from it after a kill, to the result an uninterrupted search
gives (:mod:`.checkpoint`).
"""

from .base import NEEDS, OneShotResult, OneShotStrategy, missing
from .darts import DARTS, DARTSPlus, FairDARTS, hypergradient
from .enas import ENAS
from .path_dropout import OneShotModel
from .proxyless import GDAS, ProxylessNAS, SampledOneShotResult, layer_latencies
from .single_path import SPOS, FairNAS, inherit, recalibrate_bn, set_arch

__all__ = ["DARTS", "DARTSPlus", "ENAS", "FairDARTS", "FairNAS", "GDAS", "NEEDS", "OneShotModel", "OneShotResult",
           "OneShotStrategy", "ProxylessNAS", "SPOS", "SampledOneShotResult", "hypergradient", "inherit",
           "layer_latencies", "missing", "recalibrate_bn", "set_arch"]
