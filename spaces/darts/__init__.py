"""DARTS (Liu et al. 2019, docs/papers.md §2): genotypes, evaluation networks, the cell search space and its supernet.

``GENOTYPES`` holds the reference code's genotypes (DARTS_V1, DARTS_V2, NASNet,
AmoebaNet); ``network(genotype, ...)`` builds the CIFAR or ImageNet evaluation
network as one typed DAG; ``space(...)`` is the cell search space, whose
``supernet()`` is DARTS' search network.
"""

from .genotypes import CELL_OPS, GENOTYPES, PRIMITIVES, Genotype, format_genotype, freeze, parse_genotype
from .network import network, search_network
from .space import OPS, SMALL, DartsSpace, space

__all__ = ["CELL_OPS", "GENOTYPES", "OPS", "PRIMITIVES", "SMALL", "DartsSpace", "Genotype", "format_genotype",
           "freeze", "network", "parse_genotype", "search_network", "space"]
