"""wiring.threads: thread counts set and restored, chosen by measurement (a fake clock here), shared among workers.

The decision rule is tested with an injected timer that charges each step a
fixed cost per thread count, so no assertion depends on the wall clock. The
process-pool test needs a spawned worker; its function lives at module level
(workers import this module by name: pytest's ``prepend`` mode puts this
folder on ``sys.path``).
"""

from __future__ import annotations

import os
import time

import pytest
import torch
from torch import nn

from wiring import WiringError
from wiring.search import ProcessPool, SearchError
from wiring.search.executors import make_executor, ray_task_threads
from wiring.threads import (AUTO, ThreadTuner, available_cores, check_threads, choose_threads, default_candidates,
                            parse_threads, pick_threads, threads_per_worker, time_threads,
                            using_threads)


class Clock:
    """A timer that charges each call ``costs[torch.get_num_threads()]`` seconds: a step timed with n threads
    lasts ``costs[n]`` (or ``costs[n][i]`` for the i-th timed step at n threads, warm-ups included, for noise)."""

    def __init__(self, costs: dict) -> None:
        self.costs = costs
        self.now = 0.0
        self.calls: list[int] = []  # thread count in force at each call

    def __call__(self) -> float:
        n = torch.get_num_threads()
        self.calls.append(n)
        cost = self.costs[n]
        if isinstance(cost, (list, tuple)):
            cost = cost[(self.calls.count(n) - 1) // 2]
        value = self.now
        self.now += cost
        return value

    def timed(self) -> list[int]:
        """The thread count of each timed step, in order (two calls per step)."""
        return self.calls[::2]


def net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


@pytest.fixture
def batch():
    return torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))


# -- using_threads ----------------------------------------------------------------------------------


def test_using_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    with using_threads(before + 1) as n:
        assert n == torch.get_num_threads() == before + 1
        with using_threads(None) as inner:  # None leaves the setting alone
            assert inner == before + 1
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_using_threads_restores_the_count_on_an_exception_and_undoes_the_body():
    before = torch.get_num_threads()
    with pytest.raises(KeyError):
        with using_threads(before + 2):
            raise KeyError("boom")
    assert torch.get_num_threads() == before
    with using_threads(None):
        torch.set_num_threads(before + 3)  # the body's own change is undone too
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_using_threads_refuses_a_bad_count(bad):
    with pytest.raises(WiringError, match=rf"n must be a positive int or None, got n={bad!r}"):
        with using_threads(bad):
            pass


# -- the threads argument -------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [(None, None), ("auto", AUTO), (" Auto ", AUTO), (1, 1), (12, 12)])
def test_check_threads_accepts_none_auto_and_positive_ints(value, expected):
    assert check_threads(value) == expected


@pytest.mark.parametrize("bad", [0, -3, True, False, 2.0, "2", "many", "", [2]])
def test_check_threads_names_the_bad_value_in_the_callers_error(bad):
    with pytest.raises(WiringError) as raised:
        check_threads(bad)
    assert str(raised.value) == f"threads must be a positive int, 'auto' or None, got threads={bad!r}"
    with pytest.raises(SearchError, match=r"^torch_threads must be a positive int, 'auto' or None, got torch_thr"):
        check_threads(bad, name="torch_threads", error=SearchError)


@pytest.mark.parametrize("text, expected", [("auto", AUTO), (" AUTO", AUTO), ("1", 1), ("16", 16), (" 4 ", 4)])
def test_parse_threads_reads_text(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("bad", ["0", "-1", "1.5", "x", "", "２", "none"])
def test_parse_threads_refuses_other_text_naming_it(bad):
    with pytest.raises(WiringError, match=rf"^threads must be 'auto' or a positive int, got threads={bad!r}$"):
        parse_threads(bad)
    assert issubclass(WiringError, ValueError)  # usable as an argparse type=


def test_one_thread_wins_when_it_is_faster(batch):
    # issue 13's numbers: 1.38 s with 2 threads, 0.19 s with 1
    clock = Clock({1: 0.19, 2: 1.38})
    assert choose_threads(net(), *batch, candidates=(1, 2), timer=clock) == 1


def test_more_threads_win_only_beyond_the_tolerance(batch):
    assert choose_threads(net(), *batch, candidates=(1, 2, 4), timer=Clock({1: 1.0, 2: 0.6, 4: 0.5})) == 4
    # 4 threads are 2 % faster than 2: within the 5 % tolerance, so the fewer threads
    assert choose_threads(net(), *batch, candidates=(1, 2, 4), timer=Clock({1: 1.0, 2: 0.51, 4: 0.5})) == 2
    assert choose_threads(net(), *batch, candidates=(1, 2, 4), tolerance=0.0,
                          timer=Clock({1: 1.0, 2: 0.51, 4: 0.5})) == 4
    assert choose_threads(net(), *batch, candidates=(1, 2), timer=Clock({1: 0.5, 2: 0.5})) == 1  # a tie


def test_the_median_ignores_one_slow_round(batch):
    # 2 threads are faster in two of three rounds; one round was hit by other work (10 s); 0.6: its warm-up
    clock = Clock({1: [1.0, 1.0, 1.0], 2: [0.6, 0.5, 10.0, 0.5]})
    assert time_threads(net(), *batch, candidates=(1, 2), timer=clock) == pytest.approx({1: 1.0, 2: 0.5})
    assert choose_threads(net(), *batch, candidates=(1, 2), timer=Clock(clock.costs)) == 2


def test_rounds_alternate_after_the_warm_ups(batch):
    clock = Clock({1: 1.0, 2: 1.0, 4: 1.0})
    time_threads(net(), *batch, candidates=(4, 1, 2, 2), repeats=3, warmup=2, timer=clock)
    # candidates sorted, deduplicated; 1 warms up untimed, the others (timed) before their first step; the order
    # flips each round
    assert clock.timed() == [1, 2, 2, 2, 4, 4, 4, 4, 2, 1, 1, 2, 4]
    assert clock.calls == [n for n in clock.timed() for _ in range(2)]  # the count in force at both ends of a step


def test_a_count_far_slower_than_the_best_is_dropped(batch):
    clock = Clock({1: 0.19, 2: 1.38, 4: 0.3})
    medians = time_threads(net(), *batch, candidates=(1, 2, 4), timer=clock)
    # 2 threads' warm-up already takes 1.38 > 2 × 0.19: never timed; 4 threads' 0.3 is within
    assert clock.timed() == [1, 2, 4, 4, 4, 1, 1, 4]
    assert medians == pytest.approx({1: 0.19, 2: 1.38, 4: 0.3})
    clock = Clock({1: 1.0, 2: [1.5, 3.0]})  # warm-up within 2×, the timed step not: the rounds stop, 1 is left
    assert time_threads(net(), *batch, candidates=(1, 2), timer=clock) == pytest.approx({1: 1.0, 2: 3.0})
    assert clock.timed() == [1, 2, 2]
    clock = Clock({1: 1.0, 2: 3.0})  # ruled out by its warm-up: one count left after the first round
    assert time_threads(net(), *batch, candidates=(1, 2), timer=clock) == pytest.approx({1: 1.0, 2: 3.0})
    assert clock.timed() == [1, 2]
    clock = Clock({1: 0.19, 2: 1.38, 4: 0.3})
    time_threads(net(), *batch, candidates=(1, 2, 4), drop=None, timer=clock)
    assert clock.timed() == [1, 2, 2, 4, 4, 4, 2, 1, 1, 2, 4]
    clock = Clock({1: 1.0, 2: 0.4})  # the fewer threads can be the ones dropped
    assert choose_threads(net(), *batch, candidates=(1, 2), timer=clock) == 2
    assert clock.timed() == [1, 2, 2]


class Sleepy(nn.Module):
    """Ten layers; with 2 threads (a pathological count) each sleeps ``nap`` seconds first."""

    slow_calls = 0  # a class attribute: the deep copy that time_threads runs counts here too

    def __init__(self, nap: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(64 if i == 0 else 10, 10) for i in range(10))
        self.nap = nap

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers:
            if torch.get_num_threads() == 2:
                type(self).slow_calls += 1
                time.sleep(self.nap)
            x = layer(x)
        return x


def test_a_pathological_warm_up_is_cut_short_at_the_limit(batch):
    Sleepy.slow_calls = 0
    medians = time_threads(Sleepy(0.5), *batch, candidates=(1, 2))  # the real clock: a 1-thread step takes ~1 ms
    # the limit is 2 × the 1-thread step: the hook before the first layer's call stops the warm-up after one nap,
    # and 2 threads are never timed
    assert Sleepy.slow_calls == 1
    assert medians[2] > 4 * medians[1]
    Sleepy.slow_calls = 0
    time_threads(Sleepy(0.0), *batch, candidates=(1, 2), drop=None)
    assert Sleepy.slow_calls == 40  # uncut: the warm-up and 3 timed steps of 10 layers


def test_pick_threads_takes_the_fewest_within_the_tolerance():
    assert pick_threads({1: 0.19, 2: 1.38}) == 1
    assert pick_threads({1: 1.0, 2: 0.97}) == 1
    assert pick_threads({1: 1.0, 2: 0.97}, tolerance=0) == 2
    assert pick_threads({4: 0.5, 8: 0.5}) == 4
    with pytest.raises(WiringError, match="medians must time at least one thread count, got none"):
        pick_threads({})
    with pytest.raises(WiringError, match="tolerance must be a finite number with tolerance >= 0, got tolerance=-1"):
        pick_threads({1: 1.0}, tolerance=-1)


def test_steps_run_forward_and_backward_with_labels_forward_only_without(batch):
    x, y = batch
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 10)

        def forward(self, x):
            seen.append((self.training, torch.is_grad_enabled(), torch.get_num_threads()))
            return self.linear(x.flatten(1)), None  # a tuple: the logits come first

    choose_threads(Probe(), x, y, candidates=(1, 2), repeats=1, warmup=1, timer=Clock({1: 1, 2: 1}))
    assert seen == [(True, True, 1), (True, True, 1), (True, True, 2), (True, True, 2)]  # warm-ups first
    seen.clear()
    choose_threads(Probe().train(), x, candidates=(1, 2), repeats=1, warmup=0, timer=Clock({1: 1, 2: 1}))
    assert seen == [(False, False, 1), (False, False, 2)]


def tuned_loop(tuner: ThreadTuner, steps: int) -> list[int]:
    """The thread count in force in each of ``steps`` steps run under ``tuner``; the count is restored after each."""
    seen = []
    before = torch.get_num_threads()
    for _ in range(steps):
        with tuner.step() as n:
            assert n == torch.get_num_threads()
            seen.append(n)
        assert torch.get_num_threads() == before
    return seen


def test_the_tuner_chooses_from_the_loops_own_steps():
    clock = Clock({1: 1.0, 2: 0.5})
    tuner = ThreadTuner((1, 2), timer=clock)
    assert tuned_loop(tuner, 7) == [1, 1, 2, 2, 2, 1, 1] and tuner.choice is None  # time_threads' schedule
    assert tuned_loop(tuner, 4) == [2, 2, 2, 2] and tuner.choice == 2
    assert tuner.medians == pytest.approx({1: 1.0, 2: 0.5})
    assert clock.timed() == [1, 2, 2, 2, 1, 1, 2]  # the warm-up at 1 untimed; nothing timed once chosen


def test_the_tuner_drops_a_pathological_count_after_one_step():
    clock = Clock({1: 0.19, 2: 1.38})
    tuner = ThreadTuner((1, 2), timer=clock)
    assert tuned_loop(tuner, 6) == [1, 1, 2, 1, 1, 1] and tuner.choice == 1  # chosen after 3 steps
    assert clock.timed() == [1, 2]


def test_a_failed_step_is_not_counted_and_one_candidate_needs_no_timing():
    clock = Clock({1: 1.0, 2: 1.0})
    tuner = ThreadTuner((1, 2), timer=clock)
    with pytest.raises(ValueError):
        with tuner.step():
            raise ValueError("bad batch")
    assert tuned_loop(tuner, 3) == [1, 1, 2]  # the failed step (the warm-up) is run again
    clock = Clock({})
    tuner = ThreadTuner((3,), timer=clock)
    assert tuned_loop(tuner, 2) == [3, 3] and tuner.choice == 3 and clock.calls == []
    with using_threads(1):
        tuner = ThreadTuner(timer=clock)  # the default candidates, read at the first step: (1,) here
        assert tuned_loop(tuner, 1) == [1] and tuner.choice == 1
    with pytest.raises(WiringError, match=r"candidates must hold positive ints, got 0"):
        ThreadTuner((0, 1))
    with pytest.raises(WiringError, match=r"tolerance must be a finite number with tolerance >= 0"):
        ThreadTuner(tolerance=-1)


def test_a_custom_loss_is_used(batch):
    x, y = batch
    calls = []

    def loss(output, target):
        calls.append(target is y)
        return output.square().mean()

    time_threads(net(), x, y, candidates=(1,), repeats=2, warmup=0, loss=loss, timer=Clock({1: 1}))
    assert calls == [True, True]


def test_one_candidate_is_returned_without_running_the_model(batch):
    class Exploding(nn.Module):
        def forward(self, x):
            raise AssertionError("must not run")

    assert choose_threads(Exploding(), *batch, candidates=(3,)) == 3
    with using_threads(1):  # the default candidates stop at torch's setting: 1 here
        assert default_candidates() == (1,)
        assert choose_threads(Exploding(), *batch) == 1


def test_default_candidates_are_powers_of_two_up_to_the_ceiling():
    assert default_candidates(1) == (1,)
    assert default_candidates(2) == (1, 2)
    assert default_candidates(8) == (1, 2, 4, 8)
    assert default_candidates(12) == (1, 2, 4, 8, 12)
    with using_threads(3):
        assert default_candidates() == (1, 2, 3)


def test_the_model_and_the_callers_state_are_untouched(batch):
    x, y = batch
    model = net()
    model.train()
    model[1].eval()  # a mixed mode must survive too
    nn.functional.cross_entropy(model(x), y).backward()  # the caller's gradients, to be kept as they are
    model.note = "mine"
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    modes = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    before = torch.get_num_threads()
    choose_threads(model, x, y, candidates=(1, 2), repeats=2)  # the real clock: only the decision may vary
    choose_threads(model, x, candidates=(1, 2), repeats=1)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert all(torch.equal(g, dict(model.named_parameters())[k].grad) for k, g in grads.items())
    assert [m.training for m in model.modules()] == modes and model.note == "mine"
    assert torch.equal(torch.get_rng_state(), rng)  # dropout drew from a forked generator
    assert torch.get_num_threads() == before


def test_a_failing_step_propagates_and_restores_the_count(batch):
    class FailsAtTwo(nn.Linear):
        def forward(self, x):
            if torch.get_num_threads() == 2:
                raise RuntimeError("no kernel for two threads")
            return super().forward(x.flatten(1))

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="no kernel for two threads"):
        choose_threads(FailsAtTwo(64, 10), *batch, candidates=(1, 2))
    assert torch.get_num_threads() == before

    def broken_clock():
        raise OSError("clock gone")

    with pytest.raises(OSError, match="clock gone"):
        choose_threads(net(), *batch, candidates=(1, 2), timer=broken_clock)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kwargs, message", [
    ({"candidates": ()}, r"candidates must be a non-empty sequence of positive ints, got candidates=\(\)"),
    ({"candidates": "12"}, r"candidates must be a non-empty sequence of positive ints, got candidates='12'"),
    ({"candidates": (1, 0)}, r"candidates must hold positive ints, got 0 in candidates=\(1, 0\)"),
    ({"candidates": [True]}, r"candidates must hold positive ints, got True in candidates=\[True\]"),
    ({"repeats": 0}, r"repeats must be an int >= 1, got repeats=0"),
    ({"warmup": -1}, r"warmup must be an int >= 0, got warmup=-1"),
    ({"drop": 0.5}, r"drop must be a finite number with drop >= 1 or None, got drop=0.5"),
    ({"tolerance": -0.1}, r"tolerance must be a finite number with tolerance >= 0, got tolerance=-0.1"),
    ({"loss": "mse"}, r"loss must be a callable \(output, y\) -> loss tensor or None, got loss='mse'"),
])
def test_bad_arguments_name_their_value(batch, kwargs, message):
    with pytest.raises(WiringError, match=message):
        choose_threads(net(), *batch, **{"candidates": (1, 2), **kwargs})


def test_model_and_batch_must_be_a_module_and_tensors(batch):
    x, y = batch
    with pytest.raises(WiringError, match="model must be an nn.Module, got function"):
        choose_threads(lambda t: t, x, candidates=(1, 2))
    with pytest.raises(WiringError, match="y must be a tensor \\(a batch\\), got list"):
        choose_threads(net(), x, [1, 2], candidates=(1, 2))


# -- the workers' share -------------------------------------------------------------------------------


def test_threads_per_worker_shares_the_cores():
    assert threads_per_worker(2, cores=2) == 1
    assert threads_per_worker(1, cores=2) == 2
    assert threads_per_worker(3, cores=2) == 1  # more workers than cores: one thread each
    assert threads_per_worker(3, cores=16) == 5
    assert threads_per_worker(2) == max(1, available_cores() // 2)
    for cores in range(1, 33):
        for workers in range(1, cores + 1):
            assert workers * threads_per_worker(workers, cores) <= cores
    with pytest.raises(WiringError, match="workers must be a positive int, got workers=0"):
        threads_per_worker(0)
    with pytest.raises(WiringError, match="cores must be a positive int, got cores=0"):
        threads_per_worker(1, cores=0)


def test_available_cores_follows_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cores() == expected


def test_a_ray_task_gets_the_cpus_it_reserved():
    assert ray_task_threads(1, cores=2) == 1
    assert ray_task_threads(2, cores=2) == 2
    assert ray_task_threads(0.5, cores=2) == 1
    assert ray_task_threads(2.5, cores=16) == 2
    assert ray_task_threads(8, cores=2) == 2  # never more than the node's cores


def worker_threads() -> int:
    """Run in a worker: its torch thread count."""
    return torch.get_num_threads()


def test_process_pool_threads_default_to_the_share_and_can_be_overridden():
    for pool, expected in ((ProcessPool(2), threads_per_worker(2)), (ProcessPool(3, torch_threads=None), None),
                           (make_executor("process", 2, torch_threads=3), 3)):
        with pool:  # never used: no worker starts
            assert pool.torch_threads == expected
    if available_cores() == 2:
        assert ProcessPool(2).torch_threads == 1  # issue 13's machine: two workers, one thread each
    for bad in (0, "all", 1.5):
        with pytest.raises(SearchError, match=rf"torch_threads must be a positive int, 'auto' or None, got "
                                              rf"torch_threads={bad!r}"):
            ProcessPool(1, torch_threads=bad)
    wanted = available_cores() + 1  # neither torch's default nor any share: only the override gives it
    with ProcessPool(1, torch_threads=wanted) as pool:  # the override reaches the worker
        assert pool.submit(worker_threads).result(timeout=120) == wanted


def test_ray_executor_checks_torch_threads_before_starting_ray():
    pytest.importorskip("ray")
    import ray

    from wiring.search import RayExecutor

    with pytest.raises(SearchError, match="torch_threads must be a positive int, 'auto' or None, got torch_threads=0"):
        RayExecutor(num_cpus=1, torch_threads=0)
    assert not ray.is_initialized()
