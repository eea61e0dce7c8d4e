"""The published networks of the spaces as named models (:mod:`wiring.models`, docs/models.md).

``register_models(register)`` registers every entry; the core calls it on its
first lookup through the entry point ``spaces = "spaces.models:register_models"``
of the group ``nas_wiring.models`` (``pyproject.toml``), so the core never
imports this package by name. Every network is built by its space (no
genotype is written twice: DARTS' and NASNet's genotypes are
``spaces.darts.GENOTYPES``', ENAS' cells ``spaces.enas.MICRO_FINAL_ARC``);
the architectures no space holds yet are written here once, as their space's
encoding: MnasNet-A1, the released ProxylessNAS networks, SPOS' searched
network and NAS-Bench-201's best cell.

Each builder's keyword-only options default to the paper's configuration;
they size the network (``num_classes``, ``image_size``, widths) as the space's
own options do, and the space checks their values.

Published figures are the papers' prints (docs/papers.md); reference counts
are those the spaces' own tests pin against reference implementations
(tests/spaces). Where the count here differs from the print, ``deviations``
says why, and tests/wiring/test_models.py keeps the statement true.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import networkx as nx

from wiring.models import Published, Reference

from . import amoebanet, darts, enas, mnasnet, nasbench201, nasnet, proxyless, spos
from .randwire import Generator
from .randwire import space as randwire_space

__all__ = ["MNASNET_A1", "NASBENCH201_BEST", "PROXYLESS", "SPOS_SEARCHED", "register_models"]

# -- architectures no space holds yet (each written once, in its space's encoding) -------------

MNASNET_A1 = {
    "filters": (16, 24, 40, 80, 112, 160, 320), "layers": (1, 2, 3, 4, 2, 3, 1),
    "encoding": ";".join(f"b{i}:{block}_skip=identity_f1.0_l+0" for i, block in enumerate((
        "dwconv_k3_se0.0", "mbconv6_k3_se0.0", "mbconv3_k5_se0.25", "mbconv6_k3_se0.0", "mbconv6_k3_se0.25",
        "mbconv6_k5_se0.25", "mbconv6_k3_se0.0"))),
}
"""MnasNet-A1 (Tan et al. 2019, Fig. 7): its base filters and layers, and its 7 blocks (SE in blocks 2, 4, 5)."""

MOBILENET_V2 = ";".join(f"b{i}:{'dwconv' if i == 0 else 'mbconv6'}_k3_se0.0_skip=identity_f1.0_l+0" for i in range(7))
"""MobileNetV2 in MnasNet's default space (its base)."""

PROXYLESS: dict[str, dict[str, Any]] = {
    "mobile": {"widths": (32, 40, 80, 96, 192, 320), "stem": 32, "first": 16, "head": 1280, "encoding":
               "mbconv_k5_e3,mbconv_k3_e3,zero,zero|mbconv_k7_e3,mbconv_k3_e3,mbconv_k5_e3,mbconv_k5_e3|"
               "mbconv_k7_e6,mbconv_k5_e3,mbconv_k5_e3,mbconv_k5_e3|mbconv_k5_e6,mbconv_k5_e3,mbconv_k5_e3,"
               "mbconv_k5_e3|mbconv_k7_e6,mbconv_k7_e6,mbconv_k7_e3,mbconv_k7_e3|mbconv_k7_e6"},
    "gpu": {"widths": (32, 56, 112, 128, 256, 432), "stem": 40, "first": 24, "head": 1728, "encoding":
            "mbconv_k5_e3,zero,zero,zero|mbconv_k7_e3,zero,zero,mbconv_k3_e3|mbconv_k7_e6,zero,zero,mbconv_k5_e3|"
            "mbconv_k5_e6,zero,mbconv_k3_e3,mbconv_k5_e3|mbconv_k7_e6,mbconv_k7_e6,mbconv_k7_e6,mbconv_k5_e6|"
            "mbconv_k7_e6"},
    "cpu": {"widths": (32, 48, 88, 104, 216, 360), "stem": 40, "first": 24, "head": 1432, "encoding":
            "mbconv_k3_e6,mbconv_k3_e3,mbconv_k3_e3,mbconv_k3_e3|mbconv_k3_e6,mbconv_k3_e3,mbconv_k3_e3,"
            "mbconv_k5_e3|mbconv_k3_e6,zero,zero,mbconv_k3_e3|mbconv_k5_e6,mbconv_k3_e3,mbconv_k3_e3,mbconv_k3_e3|"
            "mbconv_k5_e6,mbconv_k5_e3,mbconv_k5_e3,mbconv_k3_e3|mbconv_k5_e6"},
}
"""The released ProxylessNAS networks (mit-han-lab/proxylessnas' ``proxyless_{mobile,gpu,cpu}.config``, as
pytorchcv transcribes them): stage widths, stem and first-block channels, feature-mix width and the 21 layers."""

SPOS_SEARCHED = "7x7-5x5-3x3-5x5-7x7-3x3-7x7-3x3-7x7-3x3-7x7-xception-3x3-3x3-3x3-3x3-xception-7x7-xception-xception"
"""The network the SPOS reference code (megvii-model/SinglePathOneShot) releases as its search result."""

NASBENCH201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
"""NAS-Bench-201's best cell by CIFAR-10 test accuracy (94.37 %, 200 epochs)."""

# -- builders (keyword-only options, defaults = the paper's configuration) ----------------------


def _darts(genotype: str, **defaults: Any) -> Callable[..., nx.DiGraph]:
    def build(*, channels: int = defaults.get("channels", 36), layers: int = defaults.get("layers", 20),
              num_classes: int = defaults.get("num_classes", 10), dataset: str = defaults.get("dataset", "cifar"),
              image_size: int | None = None, auxiliary: bool = False, drop_path: bool = False) -> nx.DiGraph:
        return darts.network(darts.GENOTYPES[genotype], channels=channels, layers=layers, num_classes=num_classes,
                             dataset=dataset, image_size=image_size, auxiliary=auxiliary, drop_path=drop_path)
    build.__qualname__ = f"darts_network[{genotype}]"
    return build


def _nasnet_a(*, repeats: int = 6, filters: int = 32, num_classes: int = 10, image_size: int = 32) -> nx.DiGraph:
    space = nasnet.space(repeats=repeats, filters=filters, num_classes=num_classes, image_size=image_size)
    return space.to_graph(space.from_genotype(darts.GENOTYPES["NASNet"]))


def _amoebanet_a(*, repeats: int = 6, filters: int = 36, num_classes: int = 10, image_size: int = 32) -> nx.DiGraph:
    space = amoebanet.space(repeats=repeats, filters=filters, num_classes=num_classes, image_size=image_size)
    return space.to_graph(space.from_genotype(darts.GENOTYPES["AmoebaNet"]))


def _enas(*, layers: int = 15, channels: int = 36, num_classes: int = 10, image_size: int = 32) -> nx.DiGraph:
    space = enas.micro(network="fixed", layers=layers, channels=channels, num_classes=num_classes,
                       image_size=image_size)
    return space.to_graph(space.decode(enas.MICRO_FINAL_ARC))


def _proxyless(version: str) -> Callable[..., nx.DiGraph]:
    released = PROXYLESS[version]

    def build(*, width: float = 1.0, num_classes: int = 1000, image_size: int = 224) -> nx.DiGraph:
        space = proxyless.space(width=width, widths=released["widths"], head_channels=released["head"],
                                num_classes=num_classes, image_size=image_size)
        G = space.to_graph(space.decode(released["encoding"]))
        # spaces.proxyless fixes the stem (32) and first block (16) widths, as its search backbone does; the GPU
        # and CPU networks widen both (40, 24). Channel counts that follow are inferred, so setting the two nodes'
        # channels is the whole change; the provenance records it.
        stem, first = (proxyless.make_divisible(c * width) for c in (released["stem"], released["first"]))
        G.nodes["stem"]["params"]["channels"] = stem
        G.nodes["first_block"]["params"]["channels"] = first
        G.graph["space"] = {**G.graph["space"], "options": {**G.graph["space"]["options"], "stem_channels": stem,
                                                             "first_channels": first}}
        return G
    build.__qualname__ = f"proxylessnas[{version}]"
    return build


def _mnasnet_a1(*, width: float = 1.0, num_classes: int = 1000, image_size: int = 224) -> nx.DiGraph:
    space = mnasnet.space(width=width, filters=MNASNET_A1["filters"], layers=MNASNET_A1["layers"],
                          num_classes=num_classes, image_size=image_size)
    return space.to_graph(space.decode(MNASNET_A1["encoding"]))


def _mobilenet_v2(*, width: float = 1.0, num_classes: int = 1000, image_size: int = 224) -> nx.DiGraph:
    space = mnasnet.space(width=width, num_classes=num_classes, image_size=image_size)
    return space.to_graph(space.decode(MOBILENET_V2))


def _spos(*, num_classes: int = 1000, image_size: int = 224) -> nx.DiGraph:
    space = spos.space(num_classes=num_classes, image_size=image_size)
    return space.to_graph(space.decode(SPOS_SEARCHED))


def _randwire(regime: str, channels: int) -> Callable[..., nx.DiGraph]:
    def build(*, seed: int = 0, channels: int = channels, nodes: int = 32, num_classes: int = 1000,
              image_size: int = 224) -> nx.DiGraph:
        space = randwire_space(regime=regime, channels=channels, nodes=nodes, num_classes=num_classes,
                               image_size=image_size)
        return space.to_graph(Generator("ws", (("k", 4), ("p", 0.75)), seed))
    build.__qualname__ = f"randwire[{regime}]"
    return build


def _nasbench201_best(*, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                      image_size: int = 32) -> nx.DiGraph:
    space = nasbench201.space(channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes,
                              image_size=image_size)
    return space.to_graph(space.decode(NASBENCH201_BEST))


# -- the entries -------------------------------------------------------------------------------

_CIFAR = "CIFAR-10"
_IMAGENET = "ImageNet"

MODELS: tuple[dict[str, Any], ...] = (
    dict(name="darts_v1", build=_darts("DARTS_V1"), dataset=_CIFAR,
         description="DARTS (first order) cells, 20 cells, C = 36",
         citation="Liu et al. 2019, DARTS (docs/papers.md §2)",
         published=Published("3.3M", None, "DARTS, Table 1 (first order)"),
         reference=Reference(3_169_414, None, "quark0/darts, model.py"),
         deviations={"params": "the paper prints 3.3M for both orders; the reference code counts 3,169,414 for "
                               "the DARTS_V1 genotype, as here"}),
    dict(name="darts_v2", build=_darts("DARTS_V2"), dataset=_CIFAR,
         description="DARTS (second order) cells, 20 cells, C = 36",
         citation="Liu et al. 2019, DARTS (docs/papers.md §2)",
         published=Published("3.3M", None, "DARTS, Table 1 (second order)"),
         reference=Reference(3_349_342, None, "quark0/darts, model.py")),
    dict(name="darts_v2_imagenet", build=_darts("DARTS_V2", channels=48, layers=14, num_classes=1000,
                                                dataset="imagenet"), dataset=_IMAGENET,
         description="DARTS (second order) cells, ImageNet mobile: 14 cells, C = 48",
         citation="Liu et al. 2019, DARTS (docs/papers.md §2)",
         published=Published("4.7M", "574M", "DARTS, Table 2"),
         reference=Reference(4_718_752, None, "quark0/darts, model.py's NetworkImageNet"),
         deviations={"macs": "convolutions and the classifier of the reference network at 224×224 make 530M "
                             "multiply-adds; the paper's 574M is not reproduced (it does not say what it counts)"}),
    dict(name="nasnet_a", build=_nasnet_a, dataset=_CIFAR,
         description="NASNet-A (6 @ 768): N = 6, F = 32",
         citation="Zoph et al. 2018, NASNet (docs/papers.md §3)",
         published=Published("3.3M", None, "NASNet, Table 1"),
         deviations={"params": "the NASNet-A genotype of the DARTS code (docs/papers.md §2) concatenates other "
                               "states than the official NASNet-A; built as written it has 3,061,738 parameters"}),
    dict(name="amoebanet_a", build=_amoebanet_a, dataset=_CIFAR,
         description="AmoebaNet-A: N = 6, F = 36",
         citation="Real et al. 2019, regularized evolution (docs/papers.md §6)",
         published=Published("3.2M", None, "AmoebaNet, CIFAR-10 results (N = 6, F = 36)"),
         reference=Reference(3_145_078, None, "quark0/darts, model.py with its AmoebaNet genotype"),
         deviations={"params": "the DARTS code's AmoebaNet-A genotype, built as that code builds it, has "
                               "3,145,078 parameters (its own count too); the paper prints 3.2M"}),
    dict(name="enas", build=_enas, dataset=_CIFAR,
         description="ENAS micro cells as released, retraining network: 15 layers, C = 36",
         citation="Pham et al. 2018, ENAS (docs/papers.md §4)",
         published=Published("4.6M", None, "ENAS, Table 2 (micro search space)"),
         deviations={"params": "the retraining network of the reference's final script as spaces.enas builds "
                               "it (15 layers, 36 channels, no auxiliary head) has 3.89M; the paper's 4.6M is "
                               "not reproduced and the cause is not established"}),
    dict(name="proxylessnas_mobile", build=_proxyless("mobile"), dataset=_IMAGENET,
         description="ProxylessNAS (mobile), as released",
         citation="Cai et al. 2019, ProxylessNAS (docs/papers.md §8)",
         published=Published("4.1M", None, "ProxylessNAS, as docs/spaces/proxyless.md quotes it"),
         reference=Reference(4_080_512, None, "pytorchcv's proxylessnas_mobile")),
    dict(name="proxylessnas_gpu", build=_proxyless("gpu"), dataset=_IMAGENET,
         description="ProxylessNAS (GPU), as released",
         citation="Cai et al. 2019, ProxylessNAS (docs/papers.md §8)",
         reference=Reference(7_119_848, None, "pytorchcv's proxylessnas_gpu")),
    dict(name="proxylessnas_cpu", build=_proxyless("cpu"), dataset=_IMAGENET,
         description="ProxylessNAS (CPU), as released",
         citation="Cai et al. 2019, ProxylessNAS (docs/papers.md §8)",
         reference=Reference(4_361_648, None, "pytorchcv's proxylessnas_cpu")),
    dict(name="mnasnet_a1", build=_mnasnet_a1, dataset=_IMAGENET,
         description="MnasNet-A1",
         citation="Tan et al. 2019, MnasNet (docs/papers.md §7)",
         published=Published("3.9M", "312M", "MnasNet, Table 1"),
         reference=Reference(3_887_038, None, "pytorchcv's mnasnet_a1")),
    dict(name="spos", build=_spos, dataset=_IMAGENET,
         description="SPOS' searched ShuffleNetV2 network (block search)",
         citation="Guo et al. 2020, Single Path One-Shot (docs/papers.md §9)",
         published=Published("3.5M", "323M", "megvii-model/SinglePathOneShot's README"),
         reference=Reference(3_558_464, 322_918_720, "megvii-model/SinglePathOneShot, its get_flops"),
         deviations={"params": "the reference network has 3,558,464 parameters, as here; its README prints "
                               "3.5M"}),
    dict(name="mobilenet_v2", build=_mobilenet_v2, dataset=_IMAGENET,
         description="MobileNetV2 1.0 (a member of MnasNet's space)",
         citation="Sandler et al. 2018, MobileNetV2 (docs/papers.md §7: MnasNet's base)",
         published=Published("3.4M", "300M", "MobileNetV2, ImageNet results (multiplier 1.0)"),
         reference=Reference(3_504_872, 300_774_272, "torchvision's mobilenet_v2"),
         deviations={"params": "torchvision's mobilenet_v2 has the same 3,504,872 parameters; the paper prints "
                               "3.4M",
                     "macs": "torchvision's mobilenet_v2 has the same 300,774,272 multiply-adds; the paper rounds "
                             "them to 300M"}),
    dict(name="randwire_ws_small", build=_randwire("small", 78), dataset=_IMAGENET,
         description="RandWire-WS(4, 0.75), small regime, C = 78, seed 0",
         citation="Xie et al. 2019, RandWire (docs/papers.md §1)",
         published=Published("5.6M ± 0.1M", "583M ± 6.2M",
                             "RandWire, small regime (mean ± std over 5 graphs; docs/papers.md §1)")),
    dict(name="randwire_ws_regular", build=_randwire("regular", 109), dataset=_IMAGENET,
         description="RandWire-WS(4, 0.75), regular regime, C = 109, seed 0",
         citation="Xie et al. 2019, RandWire (docs/papers.md §1)",
         published=Published("31.9M ± 0.66M", "4.0G ± 0.09G",
                             "RandWire, regular regime (mean ± std over 5 graphs; docs/papers.md §1)")),
    dict(name="nasbench201_best", build=_nasbench201_best, dataset=_CIFAR,
         description="NAS-Bench-201's best cell (CIFAR-10 test accuracy 94.37 %)",
         citation="Dong & Yang 2020, NAS-Bench-201 (docs/papers.md §12)",
         reference=Reference(802_426, 113_951_360, "implied by NAS-Bench-201's counts of its all-3×3 and its "
                             "parameter-free cells, docs/papers.md §12: every 3×3 conv adds the same")),
)
"""Every entry, as :func:`wiring.models.register`'s keyword arguments (built once, so registering twice is a
no-op)."""


def register_models(register: Callable[..., Any]) -> None:
    """Register every entry of :data:`MODELS` with ``register`` (:func:`wiring.models.register`)."""
    for entry in MODELS:
        options = dict(entry)
        register(options.pop("name"), options.pop("build"), **options)
