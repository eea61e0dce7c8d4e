"""RandWire (Xie et al. 2019): networks whose stages are wired by random graph generators."""

from .networks import GENERATORS, cifar, regular, small, stage_seed, topology
from .stage import stage

__all__ = ["GENERATORS", "cifar", "regular", "small", "stage", "stage_seed", "topology"]
