"""The compiler, training and every one-shot strategy on a CUDA device (skipped where torch sees none).

Run them on a GPU machine with deterministic kernels, so resumed searches can be
compared bit for bit::

    CUBLAS_WORKSPACE_CONFIG=:4096:8 pytest tests/wiring/test_cuda.py
"""

from __future__ import annotations

import random

import pytest
import torch

import wiring
from spaces import darts, enas, nasbench201, nasnet, randwire, spos
from wiring.train import train

import test_oneshot_checkpoint as checkpoints
import tiny_data
from test_oneshot_checkpoint import darts_setup, enas_setup, proxyless_setup, spos_setup, table  # noqa: F401 (fixtures)
from test_train import digits_net

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICE = torch.device("cuda")

SPACES = {
    "darts": lambda: darts.space(**darts.SMALL),
    "enas-macro": lambda: enas.space(**enas.SMALL_MACRO),
    "nasbench201": lambda: nasbench201.space(**nasbench201.SMALL),
    "nasnet": lambda: nasnet.space(**nasnet.SMALL),
    "randwire": lambda: randwire.space(**randwire.SMALL),
    "spos": lambda: spos.space(**spos.SMALL),
}


@pytest.fixture
def exact_cuda():
    """Deterministic kernels and no TF32, so CUDA results are reproducible and comparable with the CPU's."""
    flags = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    yield
    torch.use_deterministic_algorithms(flags[0])
    (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark) = flags[1:]


@pytest.mark.parametrize("name", list(SPACES))
def test_compiled_network_on_cuda_matches_cpu(name, exact_cuda):
    sp = SPACES[name]()
    graph = sp.to_graph(sp.sample(random.Random(0)))
    model = wiring.compile(graph, seed=0).eval()
    (params,) = [d["params"] for _, d in graph.nodes(data=True) if d["op"] == "input"]
    x = torch.randn(2, params["channels"], *params["size"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(x)
        got = model.to(DEVICE)(x.to(DEVICE))
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-4, atol=1e-4)
    model.train()
    model(x.to(DEVICE)).sum().backward()
    assert all(p.grad is None or (p.grad.device.type == DEVICE.type and torch.isfinite(p.grad).all())
               for p in model.parameters())


def test_training_on_cuda_follows_the_cpu_run(exact_cuda):
    data = tiny_data.digits(1, 8, train=512)
    runs = [train(digits_net(8), data, epochs=5, batch_size=32, device=device, progress=False)
            for device in ("cpu", DEVICE)]
    assert all(p.device.type == DEVICE.type for p in runs[1].model.parameters())
    assert runs[1].val_accuracy > 0.2  # ten classes: chance is 0.1
    assert abs(runs[1].val_accuracy - runs[0].val_accuracy) <= 2 / len(data.y_val)
    for name, weight in runs[0].model.state_dict().items():
        torch.testing.assert_close(runs[1].model.state_dict()[name].cpu(), weight, rtol=1e-3, atol=1e-3, msg=name)


@pytest.mark.parametrize("name", list(checkpoints.CASES))
def test_oneshot_search_on_cuda_resumes_identically(name, request, table, tmp_path, monkeypatch,  # noqa: F811
                                                    exact_cuda):
    """Every one-shot strategy searches on CUDA; killed after a checkpoint and resumed, it ends bit for bit
    where an uninterrupted CUDA search ends."""
    fixture, build, kill_at = checkpoints.CASES[name]
    sp, data = request.getfixturevalue(fixture)
    with monkeypatch.context() as m:
        checkpoints.SaveCounter(m)
        reference = build(sp, table, device=DEVICE).search(data)
    assert all(p.device.type == DEVICE.type for p in reference.model.parameters())
    path = tmp_path / "search.ckpt"
    with monkeypatch.context() as m:
        checkpoints.SaveCounter(m, kill_at=kill_at)
        with pytest.raises(checkpoints.Killed):
            build(sp, table, device=DEVICE, checkpoint=path).search(data)
    resumed = build(sp, table, device=DEVICE, checkpoint=path).search(data)
    checkpoints.assert_identical(resumed, reference)
