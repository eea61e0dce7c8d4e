"""NAS-Bench-201 results from the user's own files: NB201 / NATS-Bench topology files and plain CSV.

:func:`load` reads (nothing is downloaded; no file's code is run):

- NAS-Bench-201's ``NAS-Bench-201-v1_0-e61699.pth`` / ``-v1_1-096897.pth``: a
  ``torch.save`` of ``{"meta_archs": [arch string per index], "arch2infos":
  {index: {"less": ArchResults, "full": ArchResults}}, "evaluated_indexes"}``,
  read by ``torch.load(weights_only=True)`` with numpy scalars decoded by
  :mod:`spaces.unpickle`'s stand-ins (needs torch >= 2.5). ``less`` is the
  12-epoch setting (``hp="12"``), ``full`` the 200-epoch one (``hp="200"``).
- NATS-Bench's topology benchmark, ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (the same
  dict, ``arch2infos`` keyed by ``hp``, bz2-compressed pickle) or the
  ``NATS-tss-v1_0-3ffb9-simple`` directory (``meta.pickle.pbz2`` with
  ``meta_archs``; ``{index:06d}.pickle.pbz2`` each ``{hp: ArchResults}``, read
  when an architecture is first asked for). Pickles go through
  :func:`spaces.unpickle.load` (plain data only; ``os.system`` is refused).
- A CSV: a column ``arch`` (the benchmark string) and columns
  ``<dataset>/<metric>`` (e.g. ``cifar10/valid_accuracy``); an empty cell is a
  metric the table does not have. :meth:`Table.write_csv` writes one (so a
  4 GB ``.pth`` is read once).

An ArchResults (the official ``state_dict``) holds ``dataset_seed`` (dataset ->
seeds) and ``all_results`` ((dataset, seed) -> one trial's ``epochs``,
``train_acc1es``/``train_losses``/``train_times`` per epoch, ``eval_names`` and
``eval_acc1es``/``eval_losses``/``eval_times`` keyed ``"<set>@<epoch>"``). A
row is what the official ``get_more_info(index, dataset, hp=hp,
is_random=False)`` answers after the last epoch (the mean over the trials),
under :data:`METRICS`' names:

- ``train_accuracy``/``train_loss``: ``train-accuracy``/``train-loss``;
  ``train_time``: ``train-all-time`` (seconds, all epochs);
- ``test_accuracy``/``test_loss``: ``ori-test`` on cifar10 and cifar10-valid,
  ``x-test`` (half of the original test set) on cifar100 and ImageNet16-120;
- ``valid_accuracy``/``valid_loss``: ``x-valid``; ``valid_time``:
  ``valid-per-time`` (one evaluation of the validation set);
- ``time_cost``: what ``simulate_train_eval(arch, dataset, hp)`` charges, the
  training time plus one validation: ``train-all-time + valid-per-time``;
- ``params`` (millions), ``flops`` (millions) and ``latency`` (seconds per
  batch of 256): ``get_cost_info``'s ``params``, ``flops``, ``latency`` (the
  mean over the trials; latencies <= 0, "not measured", are left out; params
  and FLOPs of disagreeing trials are seed 888's, as the official fix).

Deviation: cifar10 (trained on train+valid) has no validation set, so
``get_more_info`` gives it no valid entries; here, as the official
``find_best(dataset="cifar10", metric_on_set="valid")`` and
``simulate_train_eval`` do, cifar10's ``valid_*`` and ``time_cost`` are
cifar10-valid's (trained on the train half). Rows are trial means, where
``simulate_train_eval`` draws one trial at random. Other datasets in a file are
ignored; a metric a file does not hold (e.g. NB201 v1_0's 12-epoch setting is
cifar10-valid only) is absent from the row.
"""

from __future__ import annotations

import csv
import math
import os
import re
import zipfile
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, NamedTuple

import torch

from . import unpickle
from .errors import SpaceError

DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
"""The benchmark's datasets, in its order."""

METRICS: tuple[str, ...] = ("train_accuracy", "valid_accuracy", "test_accuracy", "train_loss", "valid_loss",
                            "test_loss", "train_time", "valid_time", "time_cost", "params", "flops", "latency")
"""A row's metrics (see the module docstring); accuracies in %, times in seconds, params and FLOPs in millions."""

HPS = {"less": "12", "full": "200"}
"""NAS-Bench-201's ``arch2infos`` keys -> the ``hp`` of the official API."""

TEST_SETS = {"cifar10-valid": "ori-test", "cifar10": "ori-test", "cifar100": "x-test", "ImageNet16-120": "x-test"}
"""The evaluation set each dataset's ``test_*`` metrics come from."""

META = "meta.pickle.pbz2"
ARCH_FILE = re.compile(r"(\d+)\.pickle\.pbz2")

Row = dict[str, float]


class Where:
    """Typed access into a file's nested data; errors name the file and the path of keys."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, what: str) -> SpaceError:
        return SpaceError(f"nasbench201: {self.source}: {where + ': ' if where else ''}{what}")

    def mapping(self, value: Any, where: str) -> Mapping:
        if not isinstance(value, Mapping):
            raise self.error(where, f"expected a dict, got {type(value).__name__}")
        return value

    def item(self, mapping: Mapping, key: Any, where: str) -> Any:
        try:
            return mapping[key]
        except (KeyError, TypeError):
            raise self.error(where, f"no key {key!r}") from None

    def number(self, value: Any, where: str, *, finite: bool = True) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(where, f"expected a number, got {value!r}")
        if finite and not math.isfinite(value):
            raise self.error(where, f"expected a finite number, got {value!r}")
        return float(value)


class Run(NamedTuple):
    """One trial of one dataset after its last epoch: train and per-set (accuracy, loss, time of all epochs),
    and its costs (``params``, ``flop``, mean ``latency``; None where the file has none)."""

    last: int
    train: tuple[float, float, float | None]
    sets: dict[str, tuple[float, float, float | None]]
    costs: tuple[float | None, float | None, float | None]


def _trial(at: Where, result: Any, where: str, needed: tuple[str, ...]) -> Run:
    """A ResultsCount ``state_dict`` as ``get_train``/``get_eval`` read it at the last epoch (sets in
    ``needed`` only)."""
    result = at.mapping(result, where)
    epochs = at.item(result, "epochs", where)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise at.error(f"{where}['epochs']", f"expected a positive int, got {epochs!r}")
    last = epochs - 1

    def value(field: str, key: Any, finite: bool = True) -> float:
        table = at.mapping(at.item(result, field, where), f"{where}[{field!r}]")
        return at.number(at.item(table, key, f"{where}[{field!r}]"), f"{where}[{field!r}][{key!r}]", finite=finite)

    times = at.item(result, "train_times", where)
    train_time = None if times is None else sum(value("train_times", i) for i in range(epochs))
    train = (value("train_acc1es", last), value("train_losses", last, finite=False), train_time)
    names = at.item(result, "eval_names", where)
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise at.error(f"{where}['eval_names']", f"expected a list of set names, got {names!r}")
    eval_times = at.item(result, "eval_times", where)
    timed = isinstance(eval_times, Mapping) and len(eval_times) > 0  # as the official get_eval
    sets = {name: (value("eval_acc1es", f"{name}@{last}"), value("eval_losses", f"{name}@{last}", finite=False),
                   sum(value("eval_times", f"{name}@{i}") for i in range(epochs)) if timed else None)
            for name in names if name in needed}
    params, flop = (None if result.get(key) is None else at.number(result[key], f"{where}[{key!r}]")
                    for key in ("params", "flop"))
    latency = result.get("latency")
    if latency is not None:
        if not isinstance(latency, (list, tuple)):
            raise at.error(f"{where}['latency']", f"expected a list of seconds, got {latency!r}")
        latency = [at.number(x, f"{where}['latency'][{i}]") for i, x in enumerate(latency)]
        latency = sum(latency) / len(latency) if latency else None
    return Run(last, train, sets, (params, flop, latency))


def _cost(runs: list[Run], seeds: list[Any], k: int) -> float | None:
    """``get_compute_costs``' params (k=0) or FLOPs (k=1): the mean, or seed 888's if the trials disagree
    (its fix of a legacy issue)."""
    values = [run.costs[k] for run in runs]
    if any(v is None for v in values):
        return None
    if len({f"{v:.5f}" for v in values}) > 1 and 888 in seeds:
        return values[seeds.index(888)]
    return sum(values) / len(values)


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(values) / len(values)


def _rows(at: Where, results: Any, where: str) -> dict[str, Row]:
    """Per dataset, the row of an ArchResults ``state_dict`` (see the module docstring)."""
    results = at.mapping(results, where)
    seeds = at.mapping(at.item(results, "dataset_seed", where), f"{where}['dataset_seed']")
    trials = at.mapping(at.item(results, "all_results", where), f"{where}['all_results']")
    runs: dict[str, list[Run]] = {}
    listed_seeds: dict[str, list[Any]] = {}
    for dataset in DATASETS:
        if dataset not in seeds:
            continue
        listed = seeds[dataset]
        if not isinstance(listed, (list, tuple)) or not listed:
            raise at.error(f"{where}['dataset_seed'][{dataset!r}]", f"expected a list of seeds, got {listed!r}")
        listed_seeds[dataset] = list(listed)
        runs[dataset] = [_trial(at, at.item(trials, (dataset, seed), f"{where}['all_results']"),
                                f"{where}['all_results'][{(dataset, seed)!r}]", ("x-valid", TEST_SETS[dataset]))
                         for seed in listed]

    def evaluation(group: list[Run], name: str) -> tuple[float, float, float | None] | None:
        if not all(name in run.sets for run in group):
            return None
        total = sum(run.last for run in group) / len(group) + 1  # get_more_info's epoch count
        eval_time = _mean([run.sets[name][2] for run in group])
        return (_mean([run.sets[name][0] for run in group]), _mean([run.sets[name][1] for run in group]),
                None if eval_time is None else eval_time / total)

    rows = {}
    for dataset, group in runs.items():
        row: dict[str, float | None] = {"train_accuracy": _mean([run.train[0] for run in group]),
                                        "train_loss": _mean([run.train[1] for run in group]),
                                        "train_time": _mean([run.train[2] for run in group]),
                                        "params": _cost(group, listed_seeds[dataset], 0),
                                        "flops": _cost(group, listed_seeds[dataset], 1)}
        latencies = [run.costs[2] for run in group if run.costs[2] is not None and run.costs[2] > 0]
        row["latency"] = sum(latencies) / len(latencies) if latencies else None
        test = evaluation(group, TEST_SETS[dataset])
        if test is not None:
            row["test_accuracy"], row["test_loss"] = test[0], test[1]
        source = runs.get("cifar10-valid") if dataset == "cifar10" else group
        valid = None if source is None else evaluation(source, "x-valid")
        if valid is not None:
            row["valid_accuracy"], row["valid_loss"], row["valid_time"] = valid
            train_time = _mean([run.train[2] for run in source])
            if train_time is not None and valid[2] is not None:
                row["time_cost"] = train_time + valid[2]
        rows[dataset] = {metric: row[metric] for metric in METRICS if row.get(metric) is not None}
    return rows


class Table:
    """NAS-Bench-201 results read from one file or directory: per architecture, per dataset, a row of
    :data:`METRICS`. Made by :func:`load`; ``arch in table``, ``len(table)``, :meth:`row`, :meth:`write_csv`."""

    def __init__(self, source: str, hp: str | None, strings: dict[Hashable, str],
                 rows: dict[Hashable, dict[str, Row]], files: dict[Hashable, str] | None = None) -> None:
        self.source, self.hp = source, hp
        self._strings, self._rows, self._files = strings, rows, files or {}

    def __repr__(self) -> str:
        return f"Table({self.source!r}, hp={self.hp!r}, {len(self)} architectures)"

    def __len__(self) -> int:
        return len(self._strings)

    def __contains__(self, arch: Hashable) -> bool:
        return arch in self._strings

    def archs(self) -> Iterator[Hashable]:
        """The architectures the table has results for."""
        return iter(self._strings)

    def row(self, arch: Hashable, dataset: str) -> Row:
        """``arch``'s metrics on ``dataset`` (a copy); :class:`SpaceError` if the table has none."""
        if dataset not in DATASETS:
            raise SpaceError(f"nasbench201: unknown dataset={dataset!r}; datasets are {list(DATASETS)}")
        rows = self._arch_rows(arch)
        if dataset not in rows:
            raise SpaceError(f"nasbench201: {self.source}: {self._strings[arch]} has no results on {dataset!r}; "
                             f"it has {list(rows)}")
        return dict(rows[dataset])

    def rows(self, arch: Hashable) -> dict[str, Row]:
        """``arch``'s rows on every dataset the table has for it (copies)."""
        return {dataset: dict(row) for dataset, row in self._arch_rows(arch).items()}

    def _arch_rows(self, arch: Hashable) -> dict[str, Row]:
        if arch not in self._strings:
            raise SpaceError(f"nasbench201: {self.source}: no results for {arch!r}"
                             + (f" at hp={self.hp!r}" if self.hp else ""))
        rows = self._rows.get(arch)
        if rows is None:  # a -simple directory's file, read once
            path = self._files[arch]
            at = Where(path)
            infos = at.mapping(_unpickle(path, True), "")
            where, results = _hp_item(at, infos, self.hp, "")
            rows = self._rows[arch] = _rows(at, _check_string(at, results, self._strings[arch], where), where)
        return rows

    def write_csv(self, path: str | os.PathLike) -> None:
        """Every row as a CSV :func:`load` reads back the same (columns ``arch``, ``<dataset>/<metric>``)."""
        rows = {arch: self._arch_rows(arch) for arch in self._strings}
        columns = [(d, m) for d in DATASETS for m in METRICS if any(m in r.get(d, {}) for r in rows.values())]
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["arch", *(f"{d}/{m}" for d, m in columns)])
            for arch, per_dataset in rows.items():
                writer.writerow([self._strings[arch],
                                 *(repr(per_dataset[d][m]) if m in per_dataset.get(d, {}) else "" for d, m in columns)])


def _hp_item(at: Where, infos: Mapping, hp: str | None, where: str) -> tuple[str, Any]:
    """``where[key]`` and the ArchResults of setting ``hp`` in ``{hp or less/full: ArchResults}``."""
    for key, value in infos.items():
        if HPS.get(str(key), str(key)) == hp:
            return f"{where}[{key!r}]", value
    raise at.error(where, f"no results for hp={hp!r}; it has {[HPS.get(str(k), str(k)) for k in infos]}")


def _check_string(at: Where, results: Any, string: str, where: str) -> Any:
    """``results``, after checking its ``arch_str`` (if any) is ``string``, the one ``meta_archs`` names."""
    found = at.mapping(results, where).get("arch_str", string)
    if found != string:
        raise at.error(f"{where}['arch_str']", f"is {found!r} but meta_archs names {string!r} for it")
    return results


def _archs(at: Where, names: Any, decode: Callable[[str], Hashable], where: str) -> list[Hashable]:
    """``meta_archs``: each string decoded; duplicates refused."""
    if not isinstance(names, (list, tuple)):
        raise at.error(where, f"expected a list of arch strings, got {type(names).__name__}")
    archs, seen = [], {}
    for i, name in enumerate(names):
        try:
            arch = decode(name)
        except SpaceError as error:
            raise at.error(f"{where}[{i}]", str(error)) from None
        if arch in seen:
            raise at.error(f"{where}[{i}]", f"{name!r} is also {where}[{seen[arch]}]")
        seen[arch] = i
        archs.append(arch)
    return archs


def _benchmark(at: Where, data: Any, hp: str, decode: Callable[[str], Hashable]) -> Table:
    """A table of the whole-benchmark dict ``{"meta_archs", "arch2infos", ...}``."""
    data = at.mapping(data, "the file")
    archs = _archs(at, at.item(data, "meta_archs", "the file"), decode, "meta_archs")
    infos = at.item(data, "arch2infos", "the file")
    if infos is None:
        raise at.error("arch2infos", "is None: this is a NATS-Bench -simple directory's meta file; "
                                     "load the directory")
    infos = at.mapping(infos, "arch2infos")
    strings, rows, hps = {}, {}, set()
    for index, per_hp in infos.items():
        where = f"arch2infos[{index!r}]"
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(archs):
            raise at.error(where, f"is not an index of meta_archs (0..{len(archs) - 1})")
        per_hp = at.mapping(per_hp, where)
        offered = {HPS.get(str(k), str(k)) for k in per_hp}
        hps |= offered
        if hp not in offered:
            continue
        name = data["meta_archs"][index]
        where, results = _hp_item(at, per_hp, hp, where)
        strings[archs[index]] = name
        rows[archs[index]] = _rows(at, _check_string(at, results, name, where), where)
    if not strings:
        raise at.error("arch2infos", f"no architecture has results for hp={hp!r}; hps are {sorted(hps)}")
    return Table(at.source, hp, strings, rows)


def _directory(path: str, hp: str, decode: Callable[[str], Hashable]) -> Table:
    """A table of a NATS-Bench ``-simple`` directory; each architecture's file is read when first asked for."""
    at = Where(path)
    meta = os.path.join(path, META)
    if not os.path.isfile(meta):
        raise at.error("the directory", f"has no {META} (not a NATS-Bench -simple directory)")
    names = at.item(at.mapping(_unpickle(meta, True), META), "meta_archs", META)
    archs = _archs(Where(meta), names, decode, "meta_archs")
    strings, files = {}, {}
    for entry in sorted(os.listdir(path)):
        match = ARCH_FILE.fullmatch(entry)
        if match is None:
            continue
        index = int(match.group(1))
        if index >= len(archs):
            raise at.error(entry, f"is not an index of meta_archs (0..{len(archs) - 1})")
        if archs[index] in files:
            raise at.error(entry, f"is also {os.path.basename(files[archs[index]])}")
        strings[archs[index]], files[archs[index]] = names[index], os.path.join(path, entry)
    if not files:
        raise at.error("the directory", "has no <index>.pickle.pbz2 files")
    return Table(path, hp, strings, {}, files)


def _csv(path: str, decode: Callable[[str], Hashable]) -> Table:
    """A table of a CSV: ``arch`` and ``<dataset>/<metric>`` columns."""
    at = Where(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = list(csv.reader(f))
    except UnicodeDecodeError:
        raise at.error("the file", "is neither a CSV (UTF-8 text) nor a torch, pickle or bz2 file") from None
    except csv.Error as error:
        raise at.error("the file", f"is not a CSV: {error}") from None
    if not lines or not lines[0] or lines[0][0] != "arch":
        raise at.error("row 1", "the header must start with the column 'arch'")
    columns = []
    for name in lines[0][1:]:
        dataset, _, metric = name.rpartition("/")
        if dataset not in DATASETS or metric not in METRICS:
            raise at.error(f"row 1, column {name!r}",
                           f"expected '<dataset>/<metric>', datasets {list(DATASETS)}, metrics {list(METRICS)}")
        columns.append((dataset, metric))
    if len(set(columns)) != len(columns):
        raise at.error("row 1", "a column appears twice")
    strings, rows, seen = {}, {}, {}
    for n, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        if len(line) != len(columns) + 1:
            raise at.error(f"row {n}", f"has {len(line)} cells, the header {len(columns) + 1}")
        try:
            arch = decode(line[0])
        except SpaceError as error:
            raise at.error(f"row {n}, column 'arch'", str(error)) from None
        if arch in seen:
            raise at.error(f"row {n}", f"{line[0]!r} is also row {seen[arch]}")
        seen[arch] = n
        per_dataset: dict[str, Row] = {}
        for (dataset, metric), cell in zip(columns, line[1:]):
            if cell.strip() == "":
                continue
            try:
                value = float(cell)
            except ValueError:
                raise at.error(f"row {n}, column '{dataset}/{metric}'", f"{cell!r} is not a number") from None
            at.number(value, f"row {n}, column '{dataset}/{metric}'", finite=not metric.endswith("_loss"))
            per_dataset.setdefault(dataset, {})[metric] = value
        strings[arch] = line[0]
        rows[arch] = {d: {m: per_dataset[d][m] for m in METRICS if m in per_dataset[d]}
                      for d in DATASETS if d in per_dataset}
    if not strings:
        raise at.error("the file", "has no rows")
    return Table(path, None, strings, rows)


def _unpickle(path: str, compressed: bool) -> Any:
    """:func:`spaces.unpickle.load`, its errors prefixed as this module's."""
    try:
        return unpickle.load(path, compressed=compressed)
    except SpaceError as error:
        raise SpaceError(f"nasbench201: {error}") from None


def _torch(path: str) -> Any:
    """``torch.load(weights_only=True)`` with numpy scalars decoded by :mod:`spaces.unpickle`."""
    if not hasattr(torch.serialization, "safe_globals"):
        raise SpaceError(f"nasbench201: {path}: reading a .pth file needs torch >= 2.5 (safe_globals), "
                         f"this is torch {torch.__version__}")
    try:
        with torch.serialization.safe_globals(unpickle.TORCH_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, refused global, bad pickle: torch raises several kinds
        reason = _reason(str(error)) or ("it ends early" if isinstance(error, EOFError) else "no detail")
        raise SpaceError(f"nasbench201: {path}: not a plain-data torch file: {type(error).__name__}: "
                         f"{reason}") from None


def _reason(message: str) -> str:
    """The line of a ``torch.load`` error that says what is wrong (not its advice to load unsafely)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if "unsupported" in line.lower() or "error:" in line.lower():
            return line.split(" Please use", 1)[0].split("WeightsUnpickler error: ")[-1]
    if lines and lines[0].startswith("Weights only load failed"):
        return lines[1] if len(lines) > 1 and not lines[1].startswith("Check the documentation") else "refused"
    return lines[0] if lines else ""


def load(path: str | os.PathLike, *, hp: str | int = "200", decode: Callable[[str], Hashable]) -> Table:
    """The table in ``path`` (a format of the module docstring, told by its content); ``hp`` chooses the
    official files' training setting ("12" or "200" epochs; a CSV holds one). ``decode`` maps an arch string to
    the key rows are filed under (the space's architecture) and raises :class:`SpaceError` for a non-member."""
    path, hp = os.fspath(path), str(hp)
    if os.path.isdir(path):
        return _directory(path, hp, decode)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as error:
        raise SpaceError(f"nasbench201: {path}: cannot read: {error}") from None
    at = Where(path)
    if head.startswith(b"PK\x03\x04"):  # torch.save's zip format
        if not zipfile.is_zipfile(path):
            raise at.error("the file", "a torch zip file cut short or damaged (it has no zip directory)")
        return _benchmark(at, _torch(path), hp, decode)
    if head.startswith(b"BZh"):
        return _benchmark(at, _unpickle(path, True), hp, decode)
    if head.startswith(b"\x80"):  # a pickle, or torch.save's legacy format (a magic number pickled first)
        data = _unpickle(path, False)
        if isinstance(data, int) and data == torch.serialization.MAGIC_NUMBER:
            data = _torch(path)
        return _benchmark(at, data, hp, decode)
    return _csv(path, decode)
