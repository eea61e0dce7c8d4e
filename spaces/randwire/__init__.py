"""RandWire (Xie et al. 2019): networks whose stages are wired by random graph generators."""

from .networks import GENERATORS, cifar, regular, small, stage_seed, topology
from .space import SMALL, Generator, RandWireSpace, space
from .stage import stage

__all__ = ["GENERATORS", "SMALL", "Generator", "RandWireSpace", "cifar", "regular", "small", "space", "stage",
           "stage_seed", "topology"]
