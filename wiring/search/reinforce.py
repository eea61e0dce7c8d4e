"""REINFORCE with an LSTM controller over ``space.decisions()`` (Zoph & Le 2017; ENAS; docs/papers.md §4, §5).

The controller emits one token per decision: an embedding of the previous
token feeds an LSTM cell.

- A ``choice`` decision samples from a softmax over its own linear head (its
  bias starting at the decision's ``bias``, ENAS' ``b_soft``), with logits
  ``c · tanh(logits / temperature) + offset`` (no division when
  ``temperature`` is ``None``), ``c = tanh_constant`` for decisions among
  earlier states (integer choices) and ``tanh_constant / op_tanh_reduce`` for
  the others (op names: ENAS micro's ``op_tanh_reduce``).
- A ``skip`` decision (source j → target i) scores
  q = vᵀ tanh(W_prev h_j + W_curr h_i) over the anchor-point hidden states of
  the two layers (Zoph & Le's anchor-point attention) and, as ENAS' macro
  controller, samples from softmax(squash([−q, q])) with the temperature and
  tanh constant of the other logits (so P(skip) = sigmoid(2q′)).
- An ``input`` decision (which earlier state a node reads) attends over those
  states as ENAS' micro controller does (:meth:`Controller.run`).

After every ``batch`` (m) told architectures, one Adam step on

    (1/m) Σ_k [ −Σ_t log P(a_t | a_<t) (R_k − b) + skip_weight · KL_k ]

with reward R = told value + entropy_weight · H (H: the summed entropy of
the sample's decision distributions, not differentiated; ENAS' entropy bonus)
and the moving-average baseline b ← b − (1 − decay)(b − R), started at
``baseline`` (the first reward when ``None``; ENAS starts it at 0). KL_k is
ENAS macro's skip penalty in the reference's form: per target layer, the sum
over its skip decisions of Σ σ(ℓ)·(log σ(ℓ) − log [1 − skip_target,
skip_target]) over the two squashed logits ℓ = squash([−q, q]), averaged over
target layers. ENAS computes its entropy term from the sampled token alone
(−p(a) log p(a) per decision); here it is each distribution's full entropy.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import nn

from generators.checks import positive_int
from spaces.base import MAX_TRIES
from spaces.errors import SpaceError

from .strategy import SearchError, Strategy


class Controller(nn.Module):
    """The LSTM controller; :meth:`run` samples (or scores) one token sequence."""

    def __init__(self, decisions: Sequence[Any], hidden: int, temperature: float | None, tanh_constant: float,
                 op_tanh_reduce: float = 1.0, skip_target: float = 0.4) -> None:
        super().__init__()
        self.decisions = list(decisions)
        self.temperature, self.skip_target = temperature, skip_target
        self.log_skip_target = torch.log(torch.tensor([1 - skip_target, skip_target]))
        self.constants = [tanh_constant if all(isinstance(c, int) for c in d.choices)
                          else tanh_constant / op_tanh_reduce for d in self.decisions]
        self.offsets = [None if d.offset is None else torch.tensor(d.offset) for d in self.decisions]
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cell = nn.LSTMCell(hidden, hidden)
        widths = [len(d.choices) for d in self.decisions]
        self.embed = nn.ModuleList(nn.Embedding(w, hidden) if d.kind != "input" else nn.Identity()
                                   for d, w in zip(self.decisions, widths))
        self.heads = nn.ModuleList(nn.Linear(hidden, w) if d.kind == "choice" else nn.Identity()
                                   for d, w in zip(self.decisions, widths))
        with torch.no_grad():
            for d, head in zip(self.decisions, self.heads):
                if d.bias is not None:
                    head.bias.copy_(torch.tensor(d.bias))
        self.w_prev = nn.Linear(hidden, hidden, bias=False)
        self.w_curr = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)
        self.anchor0 = nn.Parameter(torch.zeros(1, hidden))

    def _squash(self, logits: torch.Tensor, t: int) -> torch.Tensor:
        """ENAS' order: logits / temperature (when set), then c · tanh, then the decision's fixed offset."""
        if self.temperature is not None:
            logits = logits / self.temperature
        logits = self.constants[t] * torch.tanh(logits)
        return logits if self.offsets[t] is None else logits + self.offsets[t]

    def run(self, generator: torch.Generator | None, given: Sequence[int] | None = None
            ) -> tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample tokens (or score ``given`` ones): (tokens, Σ log P, Σ entropy, skip penalty KL).

        Decisions that name the state ``target`` they build (ENAS micro) keep ENAS' anchors: a cell starts
        with one LSTM step per cell input (anchor 0, attention key W_prev·h); an ``input`` decision attends
        over the keys of the states it may read, vᵀ tanh(key_j + W_curr·h), and feeds the chosen state's
        anchor to the next step; after a state's last decision one more step makes its anchor (h) and key."""
        h = c = torch.zeros_like(self.start)
        x = self.start
        anchors: dict[int, torch.Tensor] = {}  # skip decisions: hidden state per layer
        states: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # input decisions: (anchor, key) per state
        tokens, log_p, entropy, skip_kl = [], torch.zeros(()), torch.zeros(()), torch.zeros(())
        skip_targets: set[int] = set()
        for t, decision in enumerate(self.decisions):
            state = decision.target if decision.kind != "skip" else None
            previous = self.decisions[t - 1].target if t and self.decisions[t - 1].kind != "skip" else None
            if state is not None and (previous is None or state < previous):  # a new cell: its input states
                states = {}
                for j in range(state):
                    h, c = self.cell(x, (h, c))
                    states[j] = (torch.zeros_like(h), self.w_prev(h))
            h, c = self.cell(x, (h, c))
            if decision.kind == "skip":
                anchors.setdefault(decision.target, h)
                source = anchors.get(decision.source, self.anchor0)
                q = self.v(torch.tanh(self.w_prev(source) + self.w_curr(anchors[decision.target]))).reshape(1)
                logits = self._squash(torch.cat([-q, q]), t)  # ENAS' general_controller: [−q, q], then squashed
                probs = torch.softmax(logits, dim=-1)
                sig = torch.sigmoid(logits)  # its skip penalty reads σ of the same logits
                skip_kl = skip_kl + (sig * (torch.log(sig.clamp_min(1e-12)) - self.log_skip_target)).sum()
                skip_targets.add(decision.target)
            elif decision.kind == "input":
                keys = torch.cat([states[j][1] for j in decision.choices])
                probs = torch.softmax(self._squash(self.v(torch.tanh(keys + self.w_curr(h))).squeeze(-1), t), -1)
            else:
                probs = torch.softmax(self._squash(self.heads[t](h).squeeze(0), t), dim=-1)
            token = given[t] if given is not None else int(torch.multinomial(probs, 1, generator=generator))
            tokens.append(token)
            log_p = log_p + torch.log(probs[token].clamp_min(1e-12))
            entropy = entropy - (probs * torch.log(probs.clamp_min(1e-12))).sum()
            x = states[token][0] if decision.kind == "input" else self.embed[t](torch.tensor([token]))
            following = self.decisions[t + 1] if t + 1 < len(self.decisions) else None
            if state is not None and (following is None or following.target != state):  # the state is built
                h, c = self.cell(x, (h, c))
                states[state] = (h, self.w_prev(h))
                x = self.start
        return tokens, log_p, entropy, skip_kl / max(1, len(skip_targets))


class Reinforce(Strategy):
    """REINFORCE over any space with ``decisions()`` / ``from_decisions()`` / ``to_decisions()``.

    Defaults follow the ENAS paper and its official code: 64 LSTM units, temperature 5 (the paper's; the
    official search scripts set none: ``temperature=None``), tanh constant 1.5, Adam lr 0.0035 with β1 = 0
    and ε = 1e-3, baseline decay 0.99, entropy weight 1e-4; ``op_tanh_reduce`` 1 and ``skip_weight``
    0 (ENAS micro uses ``op_tanh_reduce=2.5`` with ``tanh_constant=1.1``,
    ENAS macro ``skip_weight=0.8``, ``skip_target=0.4``); ``baseline``: its start (``None``: the first
    reward; ENAS starts at 0); ``batch`` = m
    architectures per update (Zoph & Le). Reward = the told value plus the
    entropy bonus (cube the value in the objective for Zoph & Le's reward, and
    set ``entropy_weight=0``). Failed trials do not update the controller.
    """

    def __init__(self, space: Any, *, seed: int | None = None, batch: int = 1, hidden: int = 64,
                 lr: float = 0.0035, temperature: float | None = 5.0, tanh_constant: float = 1.5,
                 op_tanh_reduce: float = 1.0, baseline_decay: float = 0.99, entropy_weight: float = 1e-4,
                 skip_weight: float = 0.0, skip_target: float = 0.4, adam_beta1: float = 0.0,
                 adam_eps: float = 1e-3, baseline: float | None = None) -> None:
        super().__init__(space, seed=seed)
        for method in ("decisions", "from_decisions", "to_decisions"):
            if not callable(getattr(space, method, None)):
                raise SearchError(f"Reinforce needs a space with {method}(), got {space!r}")
        positive_int("batch", batch, error=SearchError)
        if not 0 <= baseline_decay < 1:
            raise SearchError(f"baseline_decay must be in [0, 1), got {baseline_decay!r}")
        if not 0 < skip_target < 1:
            raise SearchError(f"skip_target must be a probability in (0, 1), got {skip_target!r}")
        if not 0 <= adam_beta1 < 1:
            raise SearchError(f"adam_beta1 must be in [0, 1), got {adam_beta1!r}")
        for name, value in (("op_tanh_reduce", op_tanh_reduce), ("adam_eps", adam_eps)):
            if not value > 0:
                raise SearchError(f"{name} must be > 0, got {name}={value!r}")
        if temperature is not None and not temperature > 0:
            raise SearchError(f"temperature must be > 0 or None, got {temperature!r}")
        if not skip_weight >= 0:
            raise SearchError(f"skip_weight must be >= 0, got {skip_weight!r}")
        decisions = space.decisions()
        for d in decisions:
            if d.kind == "skip" and len(d.choices) != 2:
                raise SearchError(f"skip decision {d.name!r} must have two choices (off, on), got {d.choices}")
        self.batch, self.entropy_weight, self.decay = batch, entropy_weight, baseline_decay
        self.skip_weight = skip_weight
        torch_seed = self.rng.getrandbits(63)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            self.controller = Controller(decisions, hidden, temperature, tanh_constant, op_tanh_reduce, skip_target)
        self.generator = torch.Generator().manual_seed(torch_seed)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr, betas=(adam_beta1, 0.999), eps=adam_eps)
        self.baseline: float | None = baseline
        self.told: list[tuple[list[int], float]] = []

    def draw(self) -> list[int]:
        """One token sequence (decision indices) from the controller's generator; nothing is asked or told."""
        with torch.no_grad():
            return self.controller.run(self.generator)[0]

    def _ask(self) -> Hashable:
        """The controller's next sample that is a member of the space (token sequences that are not, such as
        NAS-Bench-Graph's all-``skip`` network, are drawn again, up to ``MAX_TRIES`` times)."""
        for _ in range(MAX_TRIES):
            tokens = self.draw()
            try:
                return self.space.from_decisions(tokens)
            except SpaceError as error:
                reason = error
        raise SearchError(f"the controller sampled no member of the space in {MAX_TRIES} draws; last: {reason}")

    def _tell(self, arch: Hashable, value: float | None) -> None:
        if value is None:
            return
        self.told.append((self.space.to_decisions(arch), value))
        if len(self.told) < self.batch:
            return
        loss = torch.zeros(())
        for tokens, told_value in self.told:
            _, log_p, entropy, skip_kl = self.controller.run(None, tokens)
            reward = told_value + self.entropy_weight * float(entropy.detach())
            self.baseline = reward if self.baseline is None else self.baseline - (1 - self.decay) * (
                self.baseline - reward)
            loss = loss - log_p * (reward - self.baseline) + self.skip_weight * skip_kl
        self.optimizer.zero_grad()
        (loss / len(self.told)).backward()
        self.optimizer.step()
        self.told = []
