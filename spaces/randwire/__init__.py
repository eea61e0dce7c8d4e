"""RandWire (Xie et al. 2019): networks whose stages are wired by random graph generators."""

from .networks import GENERATORS, cifar, matched_channels, regular, small, stage_seed, topology
from .space import SMALL, Generator, RandWireSpace, space
from .stage import NODE_OPS, stage

__all__ = ["GENERATORS", "NODE_OPS", "SMALL", "Generator", "RandWireSpace", "cifar", "matched_channels", "regular",
           "small", "space", "stage", "stage_seed", "topology"]
