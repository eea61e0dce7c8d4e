"""The names the command line's parser and help need, without importing what they name.

``wiring --help`` must not import torch, so the parser reads its choices here instead of from
``spaces``, ``wiring.data``, ``wiring.train`` and ``wiring.search``. Every table below is a copy that
tests/wiring/test_cli_imports.py checks against the modules it names, so it cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

SPACES = ("amoebanet", "darts", "enas", "mnasnet", "nasbench201", "nasbench_graph", "nasnet", "nasrl", "proxyless",
          "randwire", "spos")
"""``spaces.SPACES``."""

GENERATORS = ("ba", "er", "ws", "ws_flex")
"""The keys of ``spaces.randwire.GENERATORS``, sorted."""

NETWORKS = ("cifar", "regular", "small")
"""The RandWire regimes: functions of ``spaces.randwire``."""

DATASETS = ("cifar10", "cifar100", "digits", "folder")
"""The keys of ``wiring.data.DATASETS``, sorted."""

OPTIMIZERS = ("adam", "sgd")
"""``wiring.train.OPTIMIZERS``."""

BLACK_BOX = ("RandomSearch", "GridSearch", "RegularizedEvolution", "ConstrainedEvolution", "Reinforce",
             "BayesianOptimization", "PredictorSearch", "NSGA2")
"""The keys of ``wiring.search.STRATEGIES``."""

TABLE_SPACES = ("nasbench_graph",)
"""The spaces whose black-box trials look each candidate up in a benchmark table (``space.query``, through
:class:`~wiring.search.evaluators.TabularEvaluator`) instead of training it: no data, no epochs."""

IMAGE_SPACES = ("amoebanet", "darts", "enas", "mnasnet", "nasbench201", "nasnet", "nasrl", "proxyless", "randwire",
                "spos")
"""The spaces whose networks take images (``data_kind``; the CLI's one-shot data are digits)."""

OFFERS: dict[str, frozenset[str]] = {
    "amoebanet": frozenset({"supernet", "decision rows"}),
    "darts": frozenset({"supernet", "weighted derive"}),
    "enas": frozenset({"supernet", "decision rows"}),
    "mnasnet": frozenset({"supernet"}),
    "nasbench201": frozenset({"supernet", "decision rows", "equal widths"}),
    "nasbench_graph": frozenset({"supernet", "decision rows"}),
    "nasnet": frozenset({"supernet", "decision rows"}),
    "nasrl": frozenset({"supernet"}),
    "proxyless": frozenset({"supernet", "decision rows"}),
    "randwire": frozenset({"supernet"}),
    "spos": frozenset({"supernet", "decision rows", "equal widths"}),
}
"""Space -> what its SMALL instance offers of ``wiring.search.oneshot.NEEDS``."""


@dataclass(frozen=True)
class OneShot:
    """A one-shot strategy of the CLI: its class ``module.name`` in :mod:`wiring.search.oneshot`, whether it
    records α every epoch (``--plot``) and the class's ``needs``; :attr:`spaces` are the image spaces that offer
    all it needs."""

    module: str
    name: str
    alphas: bool
    needs: tuple[str, ...]

    @property
    def spaces(self) -> tuple[str, ...]:
        return tuple(space for space in IMAGE_SPACES if OFFERS[space] >= set(self.needs))


STRATEGIES = {
    "darts": OneShot("darts", "DARTS", True, ("supernet",)),
    "darts+": OneShot("darts", "DARTSPlus", True, ("supernet",)),
    "fairdarts": OneShot("darts", "FairDARTS", True, ("supernet", "weighted derive")),
    "enas": OneShot("enas", "ENAS", False, ("supernet", "decision rows")),
    "spos": OneShot("single_path", "SPOS", False, ("supernet", "decision rows")),
    "fairnas": OneShot("single_path", "FairNAS", False, ("supernet", "decision rows", "equal widths")),
    "proxyless": OneShot("proxyless", "ProxylessNAS", True, ("supernet",)),
    "gdas": OneShot("proxyless", "GDAS", True, ("supernet",)),
    "oneshot": OneShot("path_dropout", "OneShotModel", False, ("supernet", "decision rows")),
}
"""``--strategy`` name -> one-shot strategy."""
