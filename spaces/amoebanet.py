"""The AmoebaNet search space and its mutations (Real et al. 2019, regularized evolution; docs/papers.md §6).

The NASNet cell structure of :mod:`spaces.nasnet` (B = 5 blocks, two inputs,
an op each, addition; loose ends concatenated; separate normal and reduction
cells) with AmoebaNet's op set, in the paper's order: identity
(``skip_connect``), 3×3, 5×5 and 7×7 separable convs, 3×3 average pool, 3×3
max pool, 3×3 dilated separable conv, 1×7 then 7×1 conv (the PNAS set
reordered). Architectures, encoding, decisions, network and supernet are those
of :class:`spaces.nasnet.NASNetSpace`; ``GENOTYPES["AmoebaNet"]`` (and
``"NASNet"``) of :mod:`spaces.darts` are members (:meth:`~spaces.nasnet.NASNetSpace.from_genotype`).

Mutations, as the paper defines them (:meth:`AmoebaNetSpace.mutate_with`):

- ``hidden_state``: pick the normal or the reduction cell, one of its five
  blocks (pairwise combinations) and one of the block's two elements, all
  uniformly; replace that element's input by another state of the cell that
  keeps it feed-forward (an earlier state: 0 .. 1 + b, other than the current);
- ``op``: the same picks, then the element's op is replaced by another op of the set;
- ``identity``: no change.

Readings chosen: :meth:`~AmoebaNetSpace.mutate` draws the kind uniformly among
the three, and both real mutations always change something (the paper says
"another" hidden state; for the op we also take a different one, leaving "no
change" to the identity mutation). Defaults: AmoebaNet-A on CIFAR-10, N = 6,
F = 36.
"""

from __future__ import annotations

import random
from typing import Any

from .constraint import Constraint
from .errors import SpaceError
from .nasnet import CELL_TYPES, Cells, NASNetSpace

MUTATIONS = ("hidden_state", "op", "identity")

SMALL: dict[str, Any] = {"repeats": 1, "filters": 8, "image_size": 16}


class AmoebaNetSpace(NASNetSpace):
    """NASNet cells over AmoebaNet's ops, mutated as in regularized evolution."""

    name = "amoebanet"

    def __init__(self, *, repeats: int = 6, filters: int = 36, num_classes: int = 10, image_size: int = 32,
                 constraint: Constraint | None = None) -> None:
        super().__init__(repeats=repeats, filters=filters, num_classes=num_classes, image_size=image_size,
                         op_set="amoebanet", constraint=constraint)

    def _mutate(self, arch: Cells, rng: random.Random) -> Cells:
        return self.mutate_with(arch, rng, rng.choice(MUTATIONS))

    def mutate_with(self, arch: Cells, rng: random.Random, kind: str) -> Cells:
        """``arch`` mutated by the mutation ``kind`` (one of :data:`MUTATIONS`), unconstrained."""
        if kind not in MUTATIONS:
            raise SpaceError(f"{self.name}: unknown mutation kind {kind!r}; choose one of {list(MUTATIONS)}")
        if not isinstance(rng, random.Random):
            raise SpaceError(f"rng must be a random.Random, got {rng!r}")
        self.check(arch)
        if kind == "identity":
            return arch
        c, b, element = rng.randrange(len(CELL_TYPES)), rng.randrange(len(arch[0])), rng.randrange(2)
        block = arch[c][b]
        if kind == "hidden_state":
            field = ("in1", "in2")[element]
            value = rng.choice([s for s in range(2 + b) if s != getattr(block, field)])
        else:
            field = ("op1", "op2")[element]
            value = rng.choice([op for op in self.ops if op != getattr(block, field)])
        blocks = (*arch[c][:b], block._replace(**{field: value}), *arch[c][b + 1:])
        return arch._replace(**{CELL_TYPES[c]: blocks})


def space(*, repeats: int = 6, filters: int = 36, num_classes: int = 10, image_size: int = 32,
          constraint: Constraint | None = None) -> AmoebaNetSpace:
    """The AmoebaNet space: N = ``repeats`` normal cells per stage, F = ``filters`` (AmoebaNet-A: N=6, F=36)."""
    return AmoebaNetSpace(repeats=repeats, filters=filters, num_classes=num_classes, image_size=image_size,
                          constraint=constraint)
