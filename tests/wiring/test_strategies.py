"""Every strategy: ask/tell contract, seed determinism, and beating random search on a known landscape."""

import math

import networkx as nx
import pytest
import torch

import wiring
from spaces import Constraint, Decision, DecisionSpace, SpaceError
from wiring.search import (STRATEGIES, BayesianOptimization, Categorical, ConstrainedEvolution, Float,
                           GridSearch, HyperparameterSpace, Joint, MnasNetReward, PredictorSearch, RandomSearch,
                           RegularizedEvolution, Reinforce, SearchError, mnasnet_reward, pareto_front)

OPS = ("identity", "max_pool", "avg_pool")


class Chain(DecisionSpace):
    """Five layers, each one of three parameter-free ops: 243 architectures."""

    name = "chain"

    def __init__(self, layers: int = 5, constraint=None):
        super().__init__(constraint)
        self.layers = layers

    def decisions(self):
        return [Decision(f"layer{i}", OPS) for i in range(self.layers)]

    def to_graph(self, arch):
        G = nx.DiGraph(schema=wiring.SCHEMA_VERSION)
        G.add_node("x", op="input", params={"channels": 2, "size": [4, 4]})
        previous = "x"
        for i, op in enumerate(arch):
            G.add_node(i, op=op)
            G.add_edge(previous, i)
            previous = i
        G.add_node("out", op="output")
        G.add_edge(previous, "out")
        return G

    def encode(self, arch):
        return ",".join(arch)

    def decode(self, text):
        arch = tuple(text.split(","))
        self.check(arch)
        return arch


def landscape(arch):
    """Known optimum: every layer max_pool (score 0); each other op costs 1 or 2."""
    return -sum(0 if op == "max_pool" else 1 if op == "avg_pool" else 2 for op in arch)


OPTIMUM = 0
FAST = {  # small settings so that each strategy learns within a 40-trial budget
    "RandomSearch": {},
    "GridSearch": {"shuffle": True},
    "RegularizedEvolution": {"population": 10, "sample": 3},
    "ConstrainedEvolution": {"population": 10, "top_k": 3, "mutations": 5, "crossovers": 5, "mutation_prob": 0.3},
    "Reinforce": {"lr": 0.3},
    "BayesianOptimization": {"initial": 8, "candidates": 30},
    "NSGA2": {"population": 10, "offspring": 10},
    "PredictorSearch": {"initial": 8, "candidates": 30, "epochs": 30},
}


def run(strategy, budget, objective=landscape):
    for _ in range(budget):
        arch = strategy.ask()
        strategy.tell(arch, objective(arch))
    return strategy


def test_every_strategy_has_fast_settings():
    assert set(FAST) == set(STRATEGIES)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_same_seed_same_trajectory(name):
    trajectories = []
    for _ in range(2):
        strategy = run(STRATEGIES[name](Chain(), seed=3, **FAST[name]), 15)
        trajectories.append([arch for arch, _ in strategy.history])
    assert trajectories[0] == trajectories[1]


SLOW_LEARNERS = {"Reinforce": (20, 80)}  # (seeds, budget): REINFORCE with m = 1 moves little in 40 trials


@pytest.mark.parametrize("name", sorted(set(STRATEGIES) - {"RandomSearch", "GridSearch"}))
def test_finds_the_optimum_more_often_than_random_search(name):
    count, budget = SLOW_LEARNERS.get(name, (6, 40))
    seeds = range(count)
    hits = sum(run(STRATEGIES[name](Chain(), seed=s, **FAST[name]), budget).best[1] == OPTIMUM for s in seeds)
    random_hits = sum(run(RandomSearch(Chain(), seed=s), budget).best[1] == OPTIMUM for s in seeds)
    assert hits > random_hits, (hits, random_hits)


def test_several_asks_may_be_pending_and_failures_are_told_as_none():
    strategy = RegularizedEvolution(Chain(), seed=0, population=4, sample=2)
    batch = [strategy.ask() for _ in range(6)]
    for i, arch in enumerate(reversed(batch)):
        strategy.tell(arch, None if i % 2 else landscape(arch))
    assert len(strategy.population) == 3  # failed trials never join the population
    assert strategy.best[1] == max(landscape(a) for a in batch[::-1][::2])


def test_regularized_evolution_with_unique_never_asks_an_architecture_twice():
    def asked(unique):
        strategy = run(RegularizedEvolution(Chain(layers=4), seed=0, population=5, sample=5, unique=unique), 30)
        return [arch for arch, _ in strategy.history]

    assert len(set(asked(True))) == 30
    assert len(set(asked(False))) < 30  # the paper's rule re-asks mutants in an 81-member space


def test_model_based_candidate_pools_take_the_mutant_fraction():
    """With mutants=1.0 every ask after the initial ones is one mutation away from one of the five best (a random
    sample is, in about half the seeds: ten seeds tell the two apart)."""
    for seed in range(10):
        strategy = run(BayesianOptimization(Chain(), seed=seed, initial=4, candidates=10, mutants=1.0), 4)
        best = [arch for arch, _ in sorted(strategy.history, key=lambda item: -item[1])[:5]]
        child = strategy.ask()
        assert min(sum(a != b for a, b in zip(parent, child)) for parent in best) == 1


def test_tell_rejects_unknown_architectures_and_bad_values():
    strategy = RandomSearch(Chain(), seed=0)
    with pytest.raises(SearchError, match="not pending"):
        strategy.tell(("identity",) * 5, 1.0)
    arch = strategy.ask()
    for bad in (math.nan, "1", True):
        with pytest.raises(SearchError, match="value must be a number"):
            strategy.tell(arch, bad)


@pytest.mark.parametrize("make, message", [
    (lambda: RandomSearch(object()), "space protocol"),
    (lambda: RandomSearch(Chain(), seed="1"), "seed"),
    (lambda: RegularizedEvolution(Chain(), population=0), "population"),
    (lambda: RegularizedEvolution(Chain(), population=5, sample=6), "sample must not exceed"),
    (lambda: ConstrainedEvolution(Chain(), mutation_prob=0), "mutation_prob"),
    (lambda: Reinforce(Chain(), batch=0), "batch"),
    (lambda: Reinforce(Chain(), skip_target=1.0), "skip_target"),
    (lambda: Reinforce(Chain(), op_tanh_reduce=0), "op_tanh_reduce"),
    (lambda: Reinforce(Chain(), adam_beta1=1.0), "adam_beta1"),
    (lambda: Reinforce(Chain(), skip_weight=-1), "skip_weight"),
    (lambda: BayesianOptimization(Chain(), initial=0), "initial"),
    (lambda: PredictorSearch(Chain(), mutants=1.5), "mutants"),
    (lambda: RegularizedEvolution(Chain(), max_tries=0), "max_tries"),
    (lambda: GridSearch(HyperparameterSpace(x=Float(0, 1))._sample), "space protocol"),
])
def test_bad_settings_raise_search_error(make, message):
    with pytest.raises(SearchError, match=message):
        make()


def test_grid_search_asks_every_member_once_then_stops():
    space = Chain(layers=2)
    strategy = run(GridSearch(space), space.size())
    assert {a for a, _ in strategy.history} == set(space.enumerate())
    with pytest.raises(SearchError, match="every member"):
        strategy.ask()


def test_constrained_evolution_rejects_by_static_cost():
    space = Chain(constraint=Constraint(max_params=1))  # parameter-free ops: all admitted
    strategy = run(ConstrainedEvolution(space, seed=0, **FAST["ConstrainedEvolution"]), 25)
    assert len({space.encode(a) for a, _ in strategy.history}) == 25  # never re-evaluates a candidate


class NoIdentityChain(Chain):
    """Chain without the all-identity network: a token sequence the controller can emit is not a member."""

    def from_decisions(self, indices):
        if all(i == 0 for i in indices):
            raise SpaceError("the all-identity network is not a member")
        return super().from_decisions(indices)

    def sample(self, rng):
        return self.from_decisions([rng.randrange(3) for _ in range(self.layers)])


def test_reinforce_draws_again_when_the_controller_emits_a_non_member():
    strategy = Reinforce(NoIdentityChain(layers=1), seed=0, lr=0.5)
    asked = set()
    for _ in range(30):  # the untrained controller emits identity about one time in three
        arch = strategy.ask()
        asked.add(arch)
        strategy.tell(arch, 0.0)
    assert asked == {("max_pool",), ("avg_pool",)}


class Skips(Chain):
    """Chain with skip decisions (Zoph & Le's anchor points) into layers 1..``targets`` from every earlier layer;
    the skips do not change the graph."""

    def __init__(self, targets: int):
        self.targets = targets
        super().__init__()

    def decisions(self):
        return super().decisions() + [Decision(f"skip{j}->{i}", (False, True), kind="skip", source=j, target=i)
                                      for i in range(1, self.targets + 1) for j in range(i)]

    def to_graph(self, arch):
        return super().to_graph(arch[:self.layers])

    def encode(self, arch):
        return ",".join(map(str, arch))


def test_reinforce_scores_skip_decisions_with_anchor_attention():
    space = Skips(targets=2)
    strategy = run(Reinforce(space, seed=0, lr=0.1), 30, lambda arch: float(sum(arch[5:])))
    assert strategy.controller.w_prev.weight.grad is not None
    late = [sum(a[5:]) for a, _ in strategy.history[-10:]]
    early = [sum(a[5:]) for a, _ in strategy.history[:10]]
    assert sum(late) >= sum(early)


def test_reinforce_skip_logits_take_enas_macro_squash_and_penalty():
    """general_controller.py: logits [−q, q] / temperature, tanh_constant · tanh, sampled by softmax (so the
    log-odds of a skip are 2q′), and the skip penalty over sigmoid of the same two logits."""
    strategy = Reinforce(Skips(targets=1), seed=0, tanh_constant=1.5, temperature=5.0, skip_target=0.4)
    controller = strategy.controller
    with torch.no_grad():
        controller.v = torch.nn.Linear(controller.v.in_features, 1)  # a constant, large attention score q
        controller.v.weight.zero_()
        controller.v.bias.fill_(20.0)
        _, on, _, penalty = controller.run(None, [0] * 5 + [1])
        _, off, _, _ = controller.run(None, [0] * 5 + [0])
    q = 1.5 * torch.tanh(torch.tensor(20.0 / 5.0))
    torch.testing.assert_close(on - off, 2 * q)  # σ(q) would give log-odds 20
    sig = torch.sigmoid(torch.stack([-q, q]))
    torch.testing.assert_close(penalty, (sig * (sig.log() - torch.tensor([0.6, 0.4]).log())).sum())


def test_reinforce_reduces_op_logits_but_not_input_choices():
    """ENAS micro's op_tanh_reduce: op decisions (named choices) get tanh_constant / reduce, earlier-state
    choices (integers) the full constant."""
    from spaces import enas

    space = enas.space(**enas.SMALL)
    controller = Reinforce(space, seed=0, tanh_constant=1.1, op_tanh_reduce=2.5).controller
    for decision, constant in zip(space.decisions(), controller.constants):
        expected = 1.1 if decision.name.split(".")[-1].startswith("input") else 1.1 / 2.5
        assert constant == pytest.approx(expected), decision.name


def test_reinforce_starts_enas_micro_op_probabilities_at_the_reference_values():
    """b_soft (10, 10, 0, 0, 0) through 1.1/2.5·tanh, plus the normal cells' fixed offset: ≈ 0.315, 0.315,
    0.123, 0.123, 0.123 (melodyguan/enas micro_controller.py); reduction cells ≈ 0.254, 0.254, 0.164 × 3."""
    from spaces import enas

    space = enas.space(**enas.SMALL)
    controller = Reinforce(space, seed=0, tanh_constant=1.1, op_tanh_reduce=2.5, temperature=None).controller
    decisions = space.decisions()
    tokens = controller.run(torch.Generator().manual_seed(0))[0]
    seen = {}

    def record(t):
        return lambda module, args, out: seen.__setitem__(t, out)

    handles = [controller.heads[t].register_forward_hook(record(t)) for t, d in enumerate(decisions) if d.kind == "choice"]
    with torch.no_grad():
        controller.run(None, tokens)
    for h in handles:
        h.remove()
    for t, logits in seen.items():
        probs = torch.softmax(controller._squash(logits.squeeze(0), t), -1)
        expected = [0.315, 0.315, 0.123, 0.123, 0.123] if decisions[t].name.startswith("normal") else [
            0.254, 0.254, 0.164, 0.164, 0.164]
        torch.testing.assert_close(probs, torch.tensor(expected), atol=0.02, rtol=0)


def test_reinforce_attends_over_earlier_states_for_input_decisions():
    """ENAS micro: an input decision's logits come from attention (v, W_prev, W_curr), not a linear head, over
    exactly the states it may read."""
    from spaces import enas

    space = enas.space(**enas.SMALL)
    strategy = Reinforce(space, seed=0, temperature=None, lr=0.1)
    controller = strategy.controller
    assert all(isinstance(controller.heads[t], torch.nn.Identity)
               for t, d in enumerate(space.decisions()) if d.kind == "input")
    tokens = controller.run(strategy.generator)[0]
    _, log_p, _, _ = controller.run(None, tokens)
    log_p.backward()
    assert controller.v.weight.grad.abs().sum() > 0 and controller.w_curr.weight.grad.abs().sum() > 0


def test_reinforce_reward_carries_the_entropy_bonus():
    strategy = Reinforce(Chain(), seed=0, entropy_weight=0.5)
    arch = strategy.ask()
    with torch.no_grad():
        _, _, entropy, _ = strategy.controller.run(None, Chain().to_decisions(arch))
    strategy.tell(arch, 1.0)
    assert strategy.baseline == pytest.approx(1.0 + 0.5 * float(entropy))  # the first reward starts the baseline
    assert [value for _, value in strategy.history] == [1.0]  # the told value is kept as told


def test_reinforce_skip_penalty_pulls_skip_probability_to_its_target():
    def skip_rate(strategy, n=200):
        with torch.no_grad():
            samples = [strategy.controller.run(strategy.generator)[0][5:] for _ in range(n)]
        return sum(map(sum, samples)) / (n * 6)

    strategy = Reinforce(Skips(targets=3), seed=0, lr=0.05, skip_weight=1.0, skip_target=0.1)
    before = skip_rate(strategy)
    _, _, _, penalty = strategy.controller.run(None, [0] * 5 + [1] * 6)
    assert penalty > 0
    run(strategy, 60, lambda arch: 0.0)  # no reward signal: only the penalty moves the skip probabilities
    after = skip_rate(strategy)
    assert abs(after - 0.1) < abs(before - 0.1) and after < 0.25, (before, after)


def test_reinforce_adam_follows_enas():
    group = Reinforce(Chain(), seed=0).optimizer.param_groups[0]
    assert group["betas"] == (0.0, 0.999) and group["eps"] == 1e-3


def test_joint_space_lets_every_strategy_search_both():
    hparams = HyperparameterSpace(lr=Float(1e-3, 1.0, log=True), act=Categorical(["relu", "gelu"]))
    space = Joint(Chain(), hparams)

    def objective(pair):
        arch, config = pair
        return landscape(arch) - abs(math.log10(dict(config)["lr"]) + 1)

    for name in ("RandomSearch", "RegularizedEvolution", "BayesianOptimization", "Reinforce"):
        strategy = run(STRATEGIES[name](space, seed=0, **FAST[name]), 12, objective)
        arch = strategy.best[0]
        assert space.decode(space.encode(arch)) == arch
        assert space.to_graph(arch).number_of_nodes() == 7


def test_mnasnet_reward_soft_and_hard():
    assert mnasnet_reward(0.8, 80, 80) == pytest.approx(0.8)
    assert mnasnet_reward(0.8, 160, 80) == pytest.approx(0.8 * 2 ** -0.07)
    assert mnasnet_reward(0.8, 40, 80, alpha=0.0, beta=-1.0) == pytest.approx(0.8)  # hard: no bonus below T
    assert mnasnet_reward(0.8, 160, 80, alpha=0.0, beta=-1.0) == pytest.approx(0.4)
    reward = MnasNetReward(lambda arch: {"score": 0.5}, lambda arch: 20.0, 10.0, mode="hard")
    assert reward("any") == {"score": pytest.approx(0.25), "accuracy": 0.5, "cost": 20.0}
    with pytest.raises(SearchError, match="mode"):
        MnasNetReward(landscape, len, 1.0, mode="medium")


def test_pareto_front():
    points = [(0.9, 10.0), (0.8, 5.0), (0.85, 12.0), (0.7, 5.0), (0.95, 20.0)]
    assert pareto_front(points) == [4, 0, 1]


def test_predictor_search_needs_graphs():
    class NoGraphs:
        sample = mutate = encode = decode = staticmethod(lambda *args: None)

    with pytest.raises(SearchError, match="to_graph"):
        PredictorSearch(NoGraphs())


def test_search_is_reachable_as_an_attribute_of_wiring():
    import subprocess
    import sys

    code = "import wiring; print(wiring.search.RegularizedEvolution.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "RegularizedEvolution"


class _Recorded(Chain):
    """Chain whose mutate records its parent."""

    def __init__(self):
        super().__init__()
        self.parents = []

    def _mutate(self, arch, rng):
        self.parents.append(arch)
        return super()._mutate(arch, rng)


def test_regularized_evolution_removes_the_oldest_member_not_the_worst():
    """Aging (Real et al.): the child joins and the oldest leaves, even when the oldest is the best."""
    space = _Recorded()
    strategy = RegularizedEvolution(space, seed=0, population=3, sample=2)
    first = [strategy.ask() for _ in range(3)]
    for arch, value in zip(first, (0.9, 0.1, 0.2)):  # the oldest is the best
        strategy.tell(arch, value)
    assert [a for a, _ in strategy.population] == first
    child = strategy.ask()
    strategy.tell(child, 0.0)  # the worst value: an age-blind strategy would drop it
    assert [a for a, _ in strategy.population] == [first[1], first[2], child]
    strategy.tell(strategy.ask(), None)  # a failed trial never joins, nobody leaves
    assert [a for a, _ in strategy.population] == [first[1], first[2], child]


def test_regularized_evolution_parent_is_the_best_of_a_tournament_of_size_s():
    space = _Recorded()
    strategy = RegularizedEvolution(space, seed=0, population=4, sample=3)
    first = [strategy.ask() for _ in range(4)]
    for arch, value in zip(first, (0.1, 0.8, 0.3, 0.5)):
        strategy.tell(arch, value)
    drawn = []
    randrange = strategy.rng.randrange
    strategy.rng.randrange = lambda n: drawn.append(randrange(n)) or drawn[-1]
    strategy.ask()
    assert len(drawn) == 3  # S members sampled, uniformly with replacement
    assert space.parents == [max((strategy.population[i] for i in drawn), key=lambda m: m[1])[0]]
