"""Single Path One-Shot spaces (Guo et al. 2020): one choice block per layer.

- :func:`space`: the reference ShuffleNetV2 supernet space (20 layers, 4 blocks each, 4^20 architectures);
- :func:`layers`: any per-layer candidate lists as a single-path space (:class:`LayerSpace`).

``size()`` is exact; ``enumerate()`` is a lazy generator (the reference space
is too large to list). Uniform single-path training and the evolutionary
search belong to the one-shot strategies; the supernet here is the relaxed
graph they compile.
"""

from .layers import LayerSpace, layers
from .shufflenet import BLOCKS, space

SMALL = {"channels": 8, "stage_layers": (1, 2, 1, 1), "stage_channels": (16, 32, 48, 64), "last_channels": 64,
         "num_classes": 10, "image_size": 32}
"""A small instance for the protocol test: 5 layers (one at stride 1), 32×32 images."""

__all__ = ["BLOCKS", "SMALL", "LayerSpace", "layers", "space"]
