"""wiring.train: the training loop on the digits dataset with tiny 1-channel graphs (seconds, CPU)."""

import importlib
import math
from dataclasses import replace

import networkx as nx
import pytest
import torch
from torch import nn

import wiring
from wiring import GraphError, WiringError
from wiring.data import Dataset, from_torch, load_dataset
from ops.darts_modules import DropPath
from wiring.data.augment import horizontal_flip, random_crop
from wiring.threads import ThreadTuner
from wiring.train import EpochRecord, TrainError, TrainResult, cutout, evaluate, train


def digits_net(channels: int = 16, *, heads: int = 1) -> nx.DiGraph:
    """``input (1×8×8) -> conv_bn -> sep_conv -> head (10 classes) -> output``; ``heads=2`` adds a second head."""
    G = nx.DiGraph()
    G.add_node("in", op="input", params={"channels": 1, "size": [8, 8]})
    G.add_node("conv", op="conv_bn", params={"channels": channels, "relu": True})
    G.add_node("sep", op="sep_conv", params={"channels": channels})
    G.add_node("out", op="output")
    G.add_edges_from([("in", "conv"), ("conv", "sep")])
    for k in range(heads):
        G.add_node(f"head{k}", op="head", params={"num_classes": 10})
        G.add_edge("sep", f"head{k}")
        G.add_edge(f"head{k}", "out", slot=k)
    return G


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset()


@pytest.fixture(scope="module")
def small() -> Dataset:
    return load_dataset(limit=300)


@pytest.fixture(scope="module")
def trained(digits) -> TrainResult:
    return train(digits_net(), digits, epochs=3, batch_size=32, optimizer="adam", lr=0.01, progress=False)


def _without_seconds(history: list[EpochRecord]) -> list[EpochRecord]:
    return [replace(record, seconds=0.0) for record in history]


def test_learns_digits_well_above_chance(trained):
    assert isinstance(trained.model, wiring.CompiledGraph)  # the typed DAG was compiled
    assert trained.epochs_run == len(trained.history) == 3 and [r.epoch for r in trained.history] == [1, 2, 3]
    assert not trained.stopped_early and not trained.diverged
    assert trained.val_accuracy > 0.5 and trained.test_accuracy > 0.5  # chance is 0.1; typically ~0.8
    assert trained.history[-1].train_loss < trained.history[0].train_loss
    assert trained.val_accuracy == max(r.val_accuracy for r in trained.history)
    assert trained.train_seconds > 0 and all(r.seconds > 0 for r in trained.history)


def test_best_weights_are_restored_and_scored(trained, digits):
    best = trained.history[trained.best_epoch - 1]
    assert best.val_accuracy == trained.val_accuracy
    assert all(r.val_accuracy < best.val_accuracy for r in trained.history[:trained.best_epoch - 1])
    assert evaluate(trained.model, digits.x_val, digits.y_val) == trained.val_accuracy
    assert evaluate(trained.model, digits.x_test, digits.y_test, batch_size=7) == trained.test_accuracy


class Flippable(nn.Module):
    """A linear classifier; once ``flipped``, its eval-mode logits are negated (so validation accuracy collapses)."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.linear = nn.Linear(64, 10)
        self.flipped = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x.flatten(1))
        return -out if self.flipped and not self.training else out


def test_best_epoch_not_last_is_restored(small):
    model, states = Flippable(), []

    def log(record: EpochRecord) -> None:  # runs after each epoch's validation
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        model.flipped = True

    result = train(model, small, epochs=3, progress=False, log=log)
    assert result.best_epoch == 1 and result.epochs_run == 3
    assert all(r.val_accuracy < result.val_accuracy for r in result.history[1:])
    assert all(torch.equal(v, states[0][k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, states[-1][k]) for k, v in model.state_dict().items())
    model.flipped = False
    assert evaluate(model, small.x_val, small.y_val) == result.val_accuracy


def test_same_seed_same_run_and_global_rng_untouched(small):
    state = torch.get_rng_state()
    runs = [train(digits_net(4), small, epochs=2, seed=7, progress=False) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)
    a, b = runs
    assert _without_seconds(a.history) == _without_seconds(b.history)
    assert (a.val_accuracy, a.test_accuracy, a.best_epoch) == (b.val_accuracy, b.test_accuracy, b.best_epoch)
    for (key, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(x, y), key
    other = train(digits_net(4), small, epochs=2, seed=8, progress=False)
    assert _without_seconds(other.history) != _without_seconds(a.history)


def test_dropout_is_seeded_too(small):
    def net() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 10))

    a, b = (train(net(), small, epochs=2, seed=3, progress=False) for _ in range(2))
    assert _without_seconds(a.history) == _without_seconds(b.history)


def test_module_is_trained_in_place(small):
    model = wiring.compile(digits_net(4), seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(model, small, epochs=1, progress=False)
    assert result.model is model
    assert any(not torch.equal(p, q) for p, q in zip(before, model.parameters()))


def test_tuple_output_trains_on_first_element(small):
    result = train(digits_net(4, heads=2), small, epochs=1, progress=False)
    assert len(result.history) == 1 and 0 <= result.val_accuracy <= 1


def test_early_stopping_patience(small):
    model = Flippable()
    result = train(model, small, epochs=6, progress=False, early_stopping=2,
                   log=lambda record: setattr(model, "flipped", True))  # no improvement after epoch 1
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_early_stopping_callable_and_log(small):
    seen, logged = [], []

    def stop(history: list[EpochRecord]) -> bool:
        seen.append(len(history))
        return len(history) == 2

    result = train(digits_net(4), small, epochs=4, progress=False, early_stopping=stop, log=logged.append)
    assert result.stopped_early and result.epochs_run == 2 and seen == [1, 2]
    assert logged == result.history


def test_stop_request_at_last_epoch_is_not_early(small):
    result = train(digits_net(4), small, epochs=1, progress=False, early_stopping=lambda history: True)
    assert not result.stopped_early and result.epochs_run == 1


class NaNAfter(nn.Module):
    """A linear classifier whose output turns NaN after ``batches`` training batches."""

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.linear, self.batches = nn.Linear(64, 10), batches

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x.flatten(1))
        if self.training:
            self.batches -= 1
            if self.batches < 0:
                return out * math.nan
        return out


def test_divergence_in_first_epoch_keeps_initial_weights(small):
    model = NaNAfter(0)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(model, small, epochs=3, progress=False)
    assert result.diverged and result.history == [] and result.epochs_run == 0 and result.best_epoch == 0
    assert all(torch.equal(v, initial[k]) for k, v in model.state_dict().items())
    assert result.val_accuracy == evaluate(model, small.x_val, small.y_val)


def test_divergence_later_keeps_best_epoch(small):
    batches = math.ceil(len(small.y_train) / 64)
    result = train(NaNAfter(batches + 1), small, epochs=3, progress=False)  # epoch 2 diverges
    assert result.diverged and not result.stopped_early and result.epochs_run == 1 and result.best_epoch == 1
    assert result.val_accuracy == result.history[0].val_accuracy
    assert math.isfinite(result.test_accuracy)


def test_huge_learning_rate_diverges_without_raising(small):
    result = train(digits_net(4), small, epochs=2, lr=1e9, progress=False)
    assert result.diverged


def test_progress_bar_on_stderr_only_when_asked(small, capsys):
    train(digits_net(4), small, epochs=1, progress=False)
    assert capsys.readouterr() == ("", "")
    train(digits_net(4), small, epochs=1, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "train" in err and "val=" in err


def test_graph_input_channels_must_match(small):
    G = digits_net(4)
    G.nodes["in"]["params"]["channels"] = 3
    with pytest.raises(TrainError, match=r"input node 'in' carries 3 channels but dataset 'digits' has 1"):
        train(G, small, epochs=1, progress=False)


def test_logits_must_match_classes(small):
    G = digits_net(4)
    G.nodes["head0"]["params"]["num_classes"] = 3
    with pytest.raises(TrainError, match=r"logits have shape \(64, 3\), expected \(64, 10\)"):
        train(G, small, epochs=1, progress=False)


def test_malformed_graph_raises_graph_error(small):
    G = digits_net(4)
    G.remove_edge("conv", "sep")
    with pytest.raises(GraphError):
        train(G, small, epochs=1, progress=False)


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"epochs": 0}, "epochs=0"),
    ({"epochs": 2.0}, "epochs=2.0"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"batch_size": True}, "batch_size=True"),
    ({"lr": 0}, "lr=0"),
    ({"lr": math.nan}, "lr=nan"),
    ({"momentum": 1.0}, "momentum=1.0"),
    ({"weight_decay": -1e-4}, "weight_decay=-0.0001"),
    ({"optimizer": "rmsprop"}, "'rmsprop'; known optimizers: adam, sgd"),
    ({"seed": None}, "seed=None"),
    ({"early_stopping": 0}, "early_stopping=0"),
    ({"early_stopping": "3"}, "early_stopping='3'"),
    ({"log": "stderr"}, "log='stderr'"),
    ({"device": "tpu9"}, "'tpu9'"),
    ({"model": "net"}, "got str"),
    ({"data": (1, 2)}, "got tuple"),
])
def test_bad_arguments_raise_train_error(small, kwargs, needle):
    args = {"model": digits_net(4), "data": small, **kwargs}
    with pytest.raises(TrainError) as info:
        train(args.pop("model"), args.pop("data"), progress=False, **args)
    assert needle in str(info.value)
    assert isinstance(info.value, WiringError) and not isinstance(info.value, GraphError)


def test_cuda_without_cuda_is_an_error(small):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(TrainError, match="CUDA is not available"):
        train(digits_net(4), small, epochs=1, device="cuda", progress=False)


def test_evaluate_checks_and_restores_mode(small):
    model = wiring.compile(digits_net(4), seed=0)
    model.train()
    assert 0 <= evaluate(model, small.x_val, small.y_val, device=torch.device("cpu")) <= 1
    assert model.training
    with pytest.raises(TrainError, match="equal length"):
        evaluate(model, small.x_val, small.y_val[:-1])
    with pytest.raises(TrainError, match="batch_size=0"):
        evaluate(model, small.x_val, small.y_val, batch_size=0)


# -- DARTS evaluation extras: auxiliary loss, drop-path schedule, cutout -------------------------------------


class WithAux(nn.Module):
    """A linear classifier returning ``(logits, aux)``; ``aux`` is a frozen zero output (CE = ln 10) or learnable."""

    def __init__(self, learnable_aux: bool) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.linear = nn.Linear(64, 10)
            self.aux = nn.Linear(64, 10)
        if not learnable_aux:
            nn.init.zeros_(self.aux.weight), nn.init.zeros_(self.aux.bias)
            self.aux.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.linear(x.flatten(1)), self.aux(x.flatten(1))


def test_auxiliary_loss_adds_weighted_cross_entropy(small):
    plain = train(WithAux(False), small, epochs=2, aux_weight=0.0, progress=False)
    weighted = train(WithAux(False), small, epochs=2, aux_weight=0.4, progress=False)
    for a, b in zip(plain.history, weighted.history):  # the frozen aux head adds 0.4·ln(10) and changes nothing else
        assert b.train_loss - a.train_loss == pytest.approx(0.4 * math.log(10), abs=1e-5)
        assert (a.train_accuracy, a.val_accuracy) == (b.train_accuracy, b.val_accuracy)


def test_auxiliary_head_is_trained_only_with_a_positive_weight(small):
    for weight, changes in ((0.0, False), (0.4, True)):
        model = WithAux(True)
        before = model.aux.weight.detach().clone()
        train(model, small, epochs=1, aux_weight=weight, progress=False)
        assert (not torch.equal(before, model.aux.weight)) == changes


def test_auxiliary_logits_must_match_classes(small):
    class BadAux(WithAux):
        def forward(self, x):
            return self.linear(x.flatten(1)), self.aux(x.flatten(1))[:, :3]

    with pytest.raises(TrainError, match=r"auxiliary logits must have shape \(64, 10\), got tensor of shape \(64, 3\)"):
        train(BadAux(True), small, epochs=1, progress=False)


def drop_path_net() -> nx.DiGraph:
    G = digits_net(4)
    G.remove_edge("sep", "head0")
    G.add_node("drop", op="drop_path")
    G.add_edges_from([("sep", "drop"), ("drop", "head0")])
    return G


def test_drop_path_probability_follows_the_linear_schedule(small):
    model = wiring.compile(drop_path_net(), seed=0)
    (module,) = [m for m in model.modules() if isinstance(m, DropPath)]
    seen = []
    train(model, small, epochs=4, drop_path=0.2, log=lambda record: seen.append(module.p), progress=False)
    assert seen == pytest.approx([0.0, 0.05, 0.1, 0.15])  # DARTS: drop_prob · epoch / epochs, epochs from 0


def test_drop_path_zero_leaves_modules_alone_and_needs_modules_when_positive(small):
    model = wiring.compile(drop_path_net(), seed=0)
    (module,) = [m for m in model.modules() if isinstance(m, DropPath)]
    module.p = 0.3
    train(model, small, epochs=1, progress=False)
    assert module.p == 0.3
    with pytest.raises(TrainError, match=r"drop_path=0.2 but the model has no drop_path ops"):
        train(digits_net(4), small, epochs=1, drop_path=0.2, progress=False)


def test_cutout_zeroes_one_clipped_square_per_image():
    x, gen = torch.ones(64, 2, 9, 11), torch.Generator().manual_seed(0)
    out = cutout(x, 4, gen)
    assert out.shape == x.shape and torch.equal(out[:, 0], out[:, 1])  # the same square on every channel
    sizes = []
    for image in out[:, 0]:
        rows, cols = (image == 0).nonzero(as_tuple=True)
        height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert len(rows) == height * width and height <= 4 and width <= 4  # one rectangle, clipped at the border
        sizes.append(len(rows))
    assert 16 in sizes and min(sizes) < 16  # whole squares inside, clipped ones at the border
    assert torch.equal(out, cutout(x, 4, torch.Generator().manual_seed(0)))
    assert torch.equal(cutout(x, 0, gen), x)
    assert torch.equal(cutout(x, 1, gen), x)  # the reference's half-lengths: length 1 cuts nothing


def test_cutout_training_is_reproducible_and_changes_training(small):
    a = train(digits_net(4), small, epochs=1, cutout=4, progress=False)
    b = train(digits_net(4), small, epochs=1, cutout=4, progress=False)
    c = train(digits_net(4), small, epochs=1, progress=False)
    assert _without_seconds(a.history) == _without_seconds(b.history)
    assert a.history[0].train_loss != c.history[0].train_loss


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"aux_weight": -0.1}, "aux_weight=-0.1"),
    ({"aux_weight": math.inf}, "aux_weight=inf"),
    ({"drop_path": 1.0}, "drop_path=1.0"),
    ({"drop_path": -0.1}, "drop_path=-0.1"),
    ({"cutout": -1}, "cutout=-1"),
    ({"cutout": 2.5}, "cutout=2.5"),
    ({"cutout": True}, "cutout=True"),
])
def test_bad_darts_extras_raise_train_error(small, kwargs, needle):
    with pytest.raises(TrainError) as info:
        train(digits_net(4), small, epochs=1, progress=False, **kwargs)
    assert needle in str(info.value)


# -- the user's data: streamed splits, loader workers, crop and flip ------------------------------------------


class _Digits(torch.utils.data.Dataset):
    """A split's images as a map-style torch dataset (what a user's own dataset looks like)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def test_streamed_data_and_loader_workers_train_exactly_as_tensors(small):
    streamed = from_torch(_Digits(small.x_train, small.y_train), val=_Digits(small.x_val, small.y_val),
                          test=_Digits(small.x_test, small.y_test))
    assert streamed.streamed and not small.streamed
    expected = train(digits_net(4), small, epochs=2, progress=False)
    for workers in (0, 2):
        got = train(digits_net(4), streamed, epochs=2, progress=False, num_workers=workers)
        assert _without_seconds(got.history) == _without_seconds(expected.history)
        assert got.test_accuracy == expected.test_accuracy


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = torch.arange(2 * 3 * 5 * 4, dtype=torch.float32).reshape(2, 3, 5, 4) + 1
    gen = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for k in range(2):
        windows = [(dy, dx) for dy in range(5) for dx in range(5)
                   if torch.equal(out[k], padded[k, :, dy:dy + 5, dx:dx + 4])]
        assert len(windows) == 1
    assert torch.equal(random_crop(x, 0, gen), x)
    assert torch.equal(out, random_crop(x, 2, torch.Generator().manual_seed(0)))


def test_horizontal_flip_mirrors_about_half_the_images():
    x = torch.rand(400, 1, 2, 3)
    out = horizontal_flip(x, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(o, i.flip(2)) for o, i in zip(out, x)]
    assert all(m or torch.equal(o, i) for m, o, i in zip(mirrored, out, x))
    assert 150 < sum(mirrored) < 250


def test_crop_and_flip_training_is_reproducible_and_changes_training(small):
    a = train(digits_net(4), small, epochs=1, crop_padding=1, flip=True, progress=False)
    b = train(digits_net(4), small, epochs=1, crop_padding=1, flip=True, progress=False)
    plain = train(digits_net(4), small, epochs=1, progress=False)
    assert _without_seconds(a.history) == _without_seconds(b.history)
    assert a.history[0].train_loss != plain.history[0].train_loss
    for bad in ({"crop_padding": -1}, {"flip": 1}, {"num_workers": -1}):
        with pytest.raises(TrainError, match=next(iter(bad))):
            train(digits_net(4), small, epochs=1, progress=False, **bad)


# -- threads: measured by default, fixed on request, restored afterwards --------------------------------------


class _ThreadLog(nn.Module):
    """A small classifier that records torch's thread count at every forward."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        self.seen: list[int] = []  # every forward
        self.steps: list[int] = []  # training steps' forwards

    def forward(self, x):
        self.seen.append(torch.get_num_threads())
        if self.training:
            self.steps.append(torch.get_num_threads())
        return self.net(x)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_fixed_threads_hold_while_training_and_are_restored(small, two_threads):
    model = _ThreadLog()
    assert train(model, small, epochs=1, progress=False, threads=1).threads == 1
    assert set(model.seen) == {1} and torch.get_num_threads() == 2
    untouched = _ThreadLog()
    assert train(untouched, small, epochs=1, progress=False, threads=None).threads is None
    assert set(untouched.seen) == {2}


def test_auto_threads_measure_the_first_steps_and_keep_the_fastest(small, two_threads, monkeypatch):
    clock = [0.0]

    def timer():  # a step "takes" as many seconds as it has threads: 1 thread is the fastest
        clock[0] += torch.get_num_threads() / 2
        return clock[0]

    monkeypatch.setattr(importlib.import_module("wiring.train"), "ThreadTuner",
                        lambda *a, **k: ThreadTuner(*a, timer=timer, **k))
    monkeypatch.delenv("WIRING_THREADS", raising=False)
    model = _ThreadLog()
    assert train(model, small, epochs=3, batch_size=32, progress=False).threads == 1
    assert len(model.steps) == 21
    assert set(model.steps[:8]) == {1, 2}  # measuring: both counts tried, at most 8 steps
    assert set(model.steps[8:]) == {1}  # then the fastest for the rest of training
    assert set(model.seen[len(model.steps):]) <= {1}  # evaluation too
    assert torch.get_num_threads() == 2


def test_the_environment_fixes_what_auto_means(small, two_threads, monkeypatch):
    monkeypatch.setenv("WIRING_THREADS", "1")
    model = _ThreadLog()
    train(model, small, epochs=1, progress=False)
    assert set(model.seen) == {1}
    monkeypatch.setenv("WIRING_THREADS", "many")
    with pytest.raises(TrainError, match="WIRING_THREADS must be 'auto' or a positive int, got WIRING_THREADS='many'"):
        train(_ThreadLog(), small, epochs=1, progress=False)
    with pytest.raises(TrainError, match="threads must be a positive int, 'auto' or None, got threads=0"):
        train(_ThreadLog(), small, epochs=1, progress=False, threads=0)
