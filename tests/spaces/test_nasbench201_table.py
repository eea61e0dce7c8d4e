"""NAS-Bench-201 tables from the user's files: the official NB201 / NATS-Bench layouts (written here, small), CSV,
the official API's answers, queries by the space's architecture, and bad or hostile files refused without running."""

import bz2
import io
import math
import os
import pickle
import struct
from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spaces import SpaceError, nasbench201, unpickle
from spaces.nasbench201 import DATASETS, METRICS

A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
B = "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
C = "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
SETS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
        "cifar100": ("ori-test", "x-valid", "x-test"), "ImageNet16-120": ("ori-test", "x-valid", "x-test")}


# -- files in the official layouts (api_utils.ArchResults / ResultsCount state dicts) ---------------------


def trial(dataset, epochs, train, sets, train_epoch_time, eval_epoch_time):
    """A ResultsCount state dict: ``train`` = (acc, loss) at the last epoch; ``sets`` = {name: (acc, loss)}."""
    last = epochs - 1
    return {
        "name": dataset, "net_state_dict": None, "train_acc5es": None, "arch_config": {"channel": 16},
        "params": np.float64(0.129306), "flop": 15.64737, "seed": "0777", "epochs": epochs, "latency": [0.01],
        "train_acc1es": {i: (np.float64(train[0]) if i == last else 10.0) for i in range(epochs)},
        "train_losses": {i: (train[1] if i == last else 9.0) for i in range(epochs)},
        "train_times": OrderedDict((i, train_epoch_time) for i in range(epochs)),
        "eval_names": list(sets),
        "eval_acc1es": {f"{n}@{i}": (acc if i == last else 1.0) for n, (acc, _) in sets.items() for i in range(epochs)},
        "eval_losses": {f"{n}@{i}": (loss if i == last else 9.0)
                        for n, (_, loss) in sets.items() for i in range(epochs)},
        "eval_times": {f"{n}@{i}": eval_epoch_time for n in sets for i in range(epochs)},
    }


def arch_results(index, string, epochs, offset=0.0):
    """An ArchResults state dict: two seeds on every dataset; seed 888 scores 2 more and trains 1 s/epoch longer."""
    all_results, dataset_seed = {}, {}
    for k, dataset in enumerate(DATASETS):
        dataset_seed[dataset] = [777, 888]
        for seed, extra in ((777, 0.0), (888, 2.0)):
            base = 50.0 + 10 * k + offset + extra
            sets = {name: (base - 1 - j, 1.0 + j) for j, name in enumerate(SETS[dataset])}
            all_results[(dataset, seed)] = trial(dataset, epochs, (base, 0.5), sets, 2.0 + extra / 2, 0.5)
    return {"arch_index": index, "arch_str": string, "all_results": all_results, "dataset_seed": dataset_seed,
            "clear_net_done": True}


def benchmark(nats=False, strings=(A, B, C)):
    """The whole-benchmark dict of NB201 (``less``/``full``) or NATS-Bench (``"12"``/``"200"``)."""
    less, full = ("12", "200") if nats else ("less", "full")
    return {"meta_archs": list(strings), "evaluated_indexes": set(range(len(strings))),
            "arch2infos": {i: {less: arch_results(i, s, 3, offset=i), full: arch_results(i, s, 4, offset=i + 0.5)}
                           for i, s in enumerate(strings)}}


def write_pickle(path, data, compress=False):
    blob = pickle.dumps(data, protocol=4)
    path.write_bytes(bz2.compress(blob) if compress else blob)
    return path


def write_directory(root, data):
    root.mkdir()
    write_pickle(root / "meta.pickle.pbz2", {"meta_archs": data["meta_archs"], "total_archs": 3,
                                             "arch2infos": None, "evaluated_indexes": set()}, compress=True)
    for index, infos in data["arch2infos"].items():
        write_pickle(root / f"{index:06d}.pickle.pbz2", OrderedDict(infos), compress=True)
    return root


def write(kind, tmp_path, data=None):
    """One file (or directory) of ``kind`` holding ``data`` (the NB201 benchmark by default)."""
    if kind == "pth":
        torch.save(data or benchmark(), tmp_path / "NAS-Bench-201-v1_1-096897.pth")
        return tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    if kind == "legacy-pth":
        torch.save(data or benchmark(), tmp_path / "v1_0.pth", _use_new_zipfile_serialization=False)
        return tmp_path / "v1_0.pth"
    if kind == "pbz2":
        return write_pickle(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", data or benchmark(nats=True), True)
    if kind == "pickle":
        return write_pickle(tmp_path / "plain.pickle", data or benchmark(nats=True))
    if kind == "simple":
        return write_directory(tmp_path / "NATS-tss-v1_0-3ffb9-simple", data or benchmark(nats=True))
    raise AssertionError(kind)


KINDS = ["pth", "legacy-pth", "pbz2", "pickle", "simple"]


@pytest.fixture
def pth(tmp_path):
    return write("pth", tmp_path)


# -- the official API's answers ---------------------------------------------------------------------------


def test_rows_are_what_get_more_info_answers(pth):
    table = nasbench201.load_table(pth)  # hp="200": the "full" results, 4 epochs, offset 0.5
    a = nasbench201.space().decode(A)
    # seeds 777/888: train 50.5/52.5 -> 51.5; x-valid 49.5/51.5 -> 50.5; ori-test 48.5/50.5 -> 49.5
    # train time 4 epochs x 2 / 3 s -> 8 / 12 -> 10; x-valid time 4 x 0.5 = 2 -> 0.5 per epoch (one validation)
    assert table.row(a, "cifar10-valid") == {
        "train_accuracy": 51.5, "valid_accuracy": 50.5, "test_accuracy": 49.5, "train_loss": 0.5,
        "valid_loss": 1.0, "test_loss": 2.0, "train_time": 10.0, "valid_time": 0.5, "time_cost": 10.5,
        "params": 0.129306, "flops": 15.64737, "latency": 0.01}
    # cifar100 (base 70.5/72.5): ori-test -1 (not used), x-valid -2 -> 69.5, x-test -3 -> 68.5
    row = table.row(a, "cifar100")
    assert (row["valid_accuracy"], row["test_accuracy"], row["valid_loss"], row["test_loss"]) == (69.5, 68.5, 2.0, 3.0)
    assert row["time_cost"] == row["train_time"] + row["valid_time"] == 10.5


def test_cifar10_valid_metrics_and_time_cost_are_cifar10_valids(pth):
    table, a = nasbench201.load_table(pth), nasbench201.space().decode(A)
    c10, c10v = table.row(a, "cifar10"), table.row(a, "cifar10-valid")
    assert c10["test_accuracy"] == 60.5  # cifar10's own ori-test (base 60.5/62.5, less 1)
    assert c10["train_accuracy"] == 61.5 and c10["train_time"] == c10v["train_time"] == 10.0
    for metric in ("valid_accuracy", "valid_loss", "valid_time", "time_cost"):
        assert c10[metric] == c10v[metric]  # as find_best(..., "valid") / simulate_train_eval


def test_hp_picks_the_12_or_200_epoch_results(pth):
    a = nasbench201.space().decode(A)
    twelve, full = nasbench201.load_table(pth, hp=12), nasbench201.load_table(pth, hp="200")
    assert twelve.row(a, "cifar10-valid")["train_time"] == 7.5  # 3 epochs x 2 / 3 s
    assert full.row(a, "cifar10-valid")["train_time"] == 10.0
    assert full.row(a, "cifar10-valid")["train_accuracy"] == twelve.row(a, "cifar10-valid")["train_accuracy"] + 0.5
    with pytest.raises(SpaceError, match=r"hp='90'.*hps are \['12', '200'\]"):
        nasbench201.load_table(pth, hp="90")


@pytest.mark.parametrize("kind", KINDS)
def test_every_official_format_gives_the_same_table(tmp_path, kind):
    (tmp_path / "reference").mkdir()
    reference = nasbench201.load_table(write("pth", tmp_path / "reference"))
    table = nasbench201.load_table(write(kind, tmp_path))
    assert len(table) == 3 and set(table.archs()) == set(reference.archs())
    for arch in reference.archs():
        assert table.rows(arch) == reference.rows(arch)
        assert set(table.rows(arch)) == set(DATASETS)


def test_csv_written_by_a_table_reads_back_the_same(tmp_path, pth):
    table = nasbench201.load_table(pth)
    table.write_csv(tmp_path / "nb201.csv")
    again = nasbench201.load_table(tmp_path / "nb201.csv")
    assert again.hp is None and len(again) == len(table)
    assert all(again.rows(a) == table.rows(a) for a in table.archs())


def test_costs_are_get_cost_infos(tmp_path):
    data = benchmark()
    results = data["arch2infos"][0]["full"]["all_results"]
    results[("cifar100", 777)].update(params=np.float64(1.5), flop=100.0, latency=[-1.0])  # -1: not measured
    results[("cifar100", 888)].update(params=np.float64(0.5), flop=100.0, latency=[0.02, 0.04])
    results[("cifar10", 777)].update(params=None)
    row = nasbench201.load_table(write("pth", tmp_path, data)).rows(nasbench201.space().decode(A))
    # params disagree: seed 888's (the official legacy fix); FLOPs agree: their mean; latency: the measured ones
    assert (row["cifar100"]["params"], row["cifar100"]["flops"], row["cifar100"]["latency"]) == (0.5, 100.0, 0.03)
    assert "params" not in row["cifar10"] and row["cifar10"]["flops"] == 15.64737


def test_a_missing_valid_set_leaves_the_valid_metrics_out(tmp_path):
    data = benchmark()
    data["arch2infos"][0]["full"]["dataset_seed"].pop("cifar10-valid")
    table = nasbench201.load_table(write("pth", tmp_path, data))
    a = nasbench201.space().decode(A)
    assert set(table.rows(a)) == {"cifar10", "cifar100", "ImageNet16-120"}
    assert set(table.row(a, "cifar100")) >= {"valid_accuracy", "time_cost"}
    assert "valid_accuracy" not in table.row(a, "cifar10") and "time_cost" not in table.row(a, "cifar10")
    space = nasbench201.space(table=table)
    with pytest.raises(SpaceError, match=r"has no 'valid_accuracy' on 'cifar10'"):
        space.query(a, "cifar10", "valid_accuracy")
    with pytest.raises(SpaceError, match=r"has no results on 'cifar10-valid'; it has \['cifar10'"):
        space.query(a, "cifar10-valid")


# -- the space's query --------------------------------------------------------------------------------------


def test_query_takes_the_spaces_architecture(pth):
    space = nasbench201.space(table=nasbench201.load_table(pth))
    a, b = space.decode(A), space.decode(B)
    assert a == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
    assert space.query(a) == space.query(a, dataset="cifar10") == space.table.row(a, "cifar10")
    assert space.query(b, "cifar100", "valid_accuracy") == 70.5  # offset 1.5
    assert space.query(a, "cifar100", "test_accuracy") == 68.5
    row = space.query(a)
    row["valid_accuracy"] = -1.0  # a copy
    assert space.query(a, metric="valid_accuracy") == 50.5
    assert set(space.query(a)) == set(METRICS)
    assert nasbench201.space(table=pth).query(a) == space.query(a)  # a path is loaded at hp="200"
    assert "table=Table(" in repr(space)


def test_query_errors_name_what_is_wrong(pth):
    space = nasbench201.space(table=nasbench201.load_table(pth))
    a = space.decode(A)
    with pytest.raises(SpaceError, match=r"query needs a table"):
        nasbench201.space().query(a)
    with pytest.raises(SpaceError, match=r"unknown dataset='cifar-10'; datasets are \['cifar10-valid'"):
        space.query(a, "cifar-10")
    with pytest.raises(SpaceError, match=r"unknown metric='accuracy'; metrics are \['train_accuracy'"):
        space.query(a, "cifar10", "accuracy")
    with pytest.raises(SpaceError, match=r"decision 'edge0_1' must be one of"):
        space.query(("conv_5x5",) + a[1:])
    other = ("none",) * 6
    with pytest.raises(SpaceError, match=r"NAS-Bench-201-v1_1-096897.pth: no results for \|none~0\|.*hp='200'"):
        space.query(other)
    with pytest.raises(SpaceError, match=r"table must be"):
        nasbench201.space(table={A: {}})


# -- CSV ----------------------------------------------------------------------------------------------------


def test_csv_rows_are_filed_under_the_spaces_architectures(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("arch,cifar10/valid_accuracy,cifar10/test_accuracy,cifar10/train_time,cifar100/valid_accuracy\n"
                    f"{A},91.5,93.76,1234.5,\n{B},80,81.0,99,60.25\n")
    space = nasbench201.space(table=nasbench201.load_table(path))
    assert space.query(space.decode(A)) == {"valid_accuracy": 91.5, "test_accuracy": 93.76, "train_time": 1234.5}
    assert space.query(space.decode(B), "cifar100") == {"valid_accuracy": 60.25}
    with pytest.raises(SpaceError, match=r"mine.csv: .*has no results on 'cifar100'; it has \['cifar10'\]"):
        space.query(space.decode(A), "cifar100")


@pytest.mark.parametrize("text,where", [
    ("", r"row 1: the header must start with the column 'arch'"),
    ("name,cifar10/valid_accuracy\n", r"row 1: the header must start"),
    ("arch,cifar10/accuracy\n", r"row 1, column 'cifar10/accuracy': expected '<dataset>/<metric>'"),
    ("arch,imagenet/valid_accuracy\n", r"row 1, column 'imagenet/valid_accuracy'"),
    ("arch,cifar10/valid_accuracy,cifar10/valid_accuracy\n", r"row 1: a column appears twice"),
    ("arch,cifar10/valid_accuracy\n", r"the file: has no rows"),
    (f"arch,cifar10/valid_accuracy\n{A},ninety\n", r"row 2, column 'cifar10/valid_accuracy': 'ninety' is not a num"),
    (f"arch,cifar10/valid_accuracy\n{A},nan\n", r"row 2, column 'cifar10/valid_accuracy': expected a finite"),
    (f"arch,cifar10/valid_accuracy\n{A},1,2\n", r"row 2: has 3 cells, the header 2"),
    (f"arch,cifar10/valid_accuracy\n{A},1\n{A},2\n", r"row 3: .* is also row 2"),
    ("arch,cifar10/valid_accuracy\n|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n",
     r"row 2, column 'arch': nasbench201: node 1, edge 0: unknown op in token 'conv_5x5~0'"),
    (f"arch,cifar10/valid_accuracy\n{A[:-1]},1\n", r"row 2, column 'arch': .*node 3"),
])
def test_bad_csv_is_refused_naming_the_file_row_and_column(tmp_path, text, where):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(SpaceError, match=r"nasbench201: .*bad.csv: " + where):
        nasbench201.load_table(path)


def test_a_csv_loss_may_be_infinite_but_not_an_accuracy(tmp_path):
    path = tmp_path / "losses.csv"
    path.write_text(f"arch,cifar10/train_loss,cifar10/train_accuracy\n{A},inf,10\n")
    assert math.isinf(nasbench201.load_table(path).row(nasbench201.space().decode(A), "cifar10")["train_loss"])
    path.write_text(f"arch,cifar10/train_accuracy\n{A},inf\n")
    with pytest.raises(SpaceError, match="expected a finite number"):
        nasbench201.load_table(path)


def test_binary_garbage_is_not_taken_for_a_csv(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(b"\xff\xfe\x00garbage\xc3")
    with pytest.raises(SpaceError, match=r"random.bin: the file: is neither a CSV"):
        nasbench201.load_table(path)


# -- bad official files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pth", "legacy-pth", "pbz2", "pickle"])
@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_a_truncated_file_is_refused_naming_it(tmp_path, kind, keep):
    path = write(kind, tmp_path)
    blob = path.read_bytes()
    path.write_bytes(blob[:int(len(blob) * keep)])
    with pytest.raises(SpaceError, match=path.name):
        nasbench201.load_table(path)


def test_a_missing_file_is_refused_naming_it(tmp_path):
    with pytest.raises(SpaceError, match=r"nowhere.pth: cannot read"):
        nasbench201.load_table(tmp_path / "nowhere.pth")


def broken(edit):
    data = benchmark()
    edit(data)
    return data


FULL0 = lambda d: d["arch2infos"][0]["full"]  # noqa: E731
RESULT0 = lambda d: FULL0(d)["all_results"][("cifar10", 888)]  # noqa: E731
AT0 = r"arch2infos\[0\]\['full'\]"
AT_RESULT0 = AT0 + r"\['all_results'\]\[\('cifar10', 888\)\]"


@pytest.mark.parametrize("edit,message", [
    (lambda d: d.pop("meta_archs"), r"the file: no key 'meta_archs'"),
    (lambda d: d.update(arch2infos=[1, 2]), r"arch2infos: expected a dict, got list"),
    (lambda d: d.update(arch2infos=None), r"arch2infos: is None: this is a NATS-Bench -simple directory's meta"),
    (lambda d: d["arch2infos"].update({7: d["arch2infos"][0]}), r"arch2infos\[7\]: is not an index of meta_archs"),
    (lambda d: d["meta_archs"].__setitem__(1, A), r"meta_archs\[1\]: .* is also meta_archs\[0\]"),
    (lambda d: d["meta_archs"].__setitem__(2, "|max_pool~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
     r"meta_archs\[2\]: nasbench201: node 1, edge 0: unknown op in token 'max_pool~0'"),
    (lambda d: FULL0(d).update(arch_str=B), r"arch2infos\[0\]\['full'\]\['arch_str'\]: is '\|none~0.* names"),
    (lambda d: FULL0(d)["dataset_seed"].update(cifar10=[777, 999]),
     r"arch2infos\[0\]\['full'\]\['all_results'\]: no key \('cifar10', 999\)"),
    (lambda d: FULL0(d)["dataset_seed"].update(cifar10=[]),
     AT0 + r"\['dataset_seed'\]\['cifar10'\]: expected a list"),
    (lambda d: RESULT0(d).update(epochs="4"), AT_RESULT0 + r"\['epochs'\]: expected a positive int"),
    (lambda d: RESULT0(d)["train_acc1es"].pop(3), AT_RESULT0 + r"\['train_acc1es'\]: no key 3"),
    (lambda d: RESULT0(d)["train_acc1es"].update({3: "63.1"}),
     AT_RESULT0 + r"\['train_acc1es'\]\[3\]: expected a number"),
    (lambda d: RESULT0(d)["eval_acc1es"].pop("ori-test@3"), AT_RESULT0 + r"\['eval_acc1es'\]: no key 'ori-test@3'"),
    (lambda d: RESULT0(d)["eval_times"].update({"ori-test@1": float("nan")}),
     AT_RESULT0 + r"\['eval_times'\]\['ori-test@1'\]: expected a finite number"),
    (lambda d: RESULT0(d).update(eval_names="ori-test"),
     AT_RESULT0 + r"\['eval_names'\]: expected a list of set names"),
])
def test_a_wrong_layout_is_refused_naming_the_file_and_the_field(tmp_path, edit, message):
    path = write("pth", tmp_path, broken(edit))
    with pytest.raises(SpaceError, match=r"nasbench201: .*NAS-Bench-201-v1_1-096897.pth: " + message):
        nasbench201.load_table(path)


def test_a_pickle_that_is_not_a_benchmark_dict_is_refused(tmp_path):
    with pytest.raises(SpaceError, match=r"list.pickle: the file: expected a dict, got list"):
        nasbench201.load_table(write_pickle(tmp_path / "list.pickle", [A, B]))


def test_a_simple_directorys_file_is_read_when_first_asked_for(tmp_path):
    root = write("simple", tmp_path)
    (root / "000001.pickle.pbz2").write_bytes(b"BZh9 not really")
    data = benchmark(nats=True)
    data["arch2infos"][2]["200"]["arch_str"] = A
    write_pickle(root / "000002.pickle.pbz2", OrderedDict(data["arch2infos"][2]), compress=True)
    table = nasbench201.load_table(root)
    decode = nasbench201.space().decode
    assert len(table) == 3 and table.row(decode(A), "cifar10")["test_accuracy"] == 60.5
    with pytest.raises(SpaceError, match=r"000001.pickle.pbz2: not a plain-data pickle"):
        table.row(decode(B), "cifar10")
    with pytest.raises(SpaceError, match=r"000002.pickle.pbz2: \['200'\]\['arch_str'\]: is '\|nor_conv_3x3"):
        table.row(decode(C), "cifar10")


def test_a_directory_that_is_not_a_simple_benchmark_is_refused(tmp_path):
    with pytest.raises(SpaceError, match=r"has no meta.pickle.pbz2"):
        nasbench201.load_table(tmp_path)
    root = write("simple", tmp_path)
    (root / "000009.pickle.pbz2").write_bytes(b"")
    with pytest.raises(SpaceError, match=r"000009.pickle.pbz2: is not an index of meta_archs \(0..2\)"):
        nasbench201.load_table(root)
    for entry in root.iterdir():
        if entry.name != "meta.pickle.pbz2":
            entry.unlink()
    with pytest.raises(SpaceError, match=r"has no <index>.pickle.pbz2 files"):
        nasbench201.load_table(root)


# -- hostile files: nothing they name is run ---------------------------------------------------------------


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_names_os_system_is_refused_and_nothing_runs(tmp_path, kind):
    marker = tmp_path / "ran"
    data = benchmark(nats=kind != "pth" and kind != "legacy-pth")
    data["arch2infos"][0][next(iter(data["arch2infos"][0]))]["clear_net_done"] = Exploit(marker)
    path = write(kind, tmp_path, data)
    with pytest.raises(SpaceError, match=r"(os|posix)\.system") as info:
        table = nasbench201.load_table(path)
        table.rows(next(iter(table.archs())))  # the -simple directory reads this file now
    assert "not a plain-data" in str(info.value) and "weights_only` set to `False`" not in str(info.value)
    assert not marker.exists()


class Calls:
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("payload", [
    b"cos\nsystem\n(S'touch RAN'\ntR.",  # protocol 0 GLOBAL + REDUCE
    pickle.dumps(Calls(eval, "open('RAN', 'w')"), protocol=4),  # STACK_GLOBAL
    pickle.dumps(Calls(getattr, OrderedDict, "fromkeys"), protocol=2),
    pickle.dumps(Calls(Calls, print), protocol=5),  # a class of the test module
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00.",
    b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00.",
    b"\x80\x02X\x01\x00\x00\x001Q.",  # a persistent id
])
def test_the_restricted_unpickler_refuses_every_other_global(tmp_path, payload):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(SpaceError, match=r"hostile: not a plain-data pickle: UnpicklingError: refused"):
            unpickle.read(io.BytesIO(payload), "hostile")
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "RAN").exists()


def test_numpy_dtypes_other_than_numbers_are_refused():
    for blob in (pickle.dumps(np.str_("x")), pickle.dumps(np.array([1.0])), pickle.dumps(np.datetime64("2020"))):
        with pytest.raises(SpaceError, match="refused"):
            unpickle.read(io.BytesIO(blob), "numpy")


# -- properties ------------------------------------------------------------------------------------------------

PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=4)
    | st.frozensets(st.integers(), max_size=4).map(set) | st.frozensets(st.text(max_size=3), max_size=3)
    | st.dictionaries(st.integers(), children, max_size=3).map(OrderedDict),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(PLAIN, st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_plain_data_reads_back_the_same_under_every_protocol(value, protocol):
    read = unpickle.read(io.BytesIO(pickle.dumps(value, protocol=protocol)), "plain")
    assert read == value and type(read) is type(value)


NUMPY = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int32, np.int8, np.uint16, np.uint64,
                         np.bool_])


@settings(max_examples=200, deadline=None)
@given(NUMPY, st.integers(0, 255), st.integers(2, pickle.HIGHEST_PROTOCOL))
def test_numpy_scalars_read_as_the_same_python_number(kind, raw, protocol):
    value = kind(raw % 2 if kind is np.bool_ else raw / 7 if issubclass(kind, np.floating) else raw % 100)
    read = unpickle.read(io.BytesIO(pickle.dumps(value, protocol=protocol)), "numpy")
    assert type(read) in (int, float, bool) and read == value.item()


def test_a_big_endian_scalar_is_read_in_its_byte_order():
    dtype = unpickle.DType("f8", False, True)
    dtype.__setstate__((3, ">", None, None, None, -1, -1, 0))
    assert unpickle.scalar(dtype, struct.pack(">d", 1.5)) == 1.5
    dtype.__setstate__((3, "<", None, None, None, -1, -1, 0))
    assert unpickle.scalar(dtype, struct.pack("<d", -2.25)) == -2.25


VALID = pickle.dumps(benchmark(nats=True)["arch2infos"][0]["12"]["all_results"][("cifar10", 777)], protocol=2)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(1, len(VALID)))
def test_damaged_pickles_give_plain_data_or_a_space_error(flips, length):
    blob = bytearray(VALID)
    for at, byte in flips:
        blob[at] = byte
    try:
        value = unpickle.read(io.BytesIO(bytes(blob[:length])), "damaged")
    except SpaceError as error:
        assert str(error).startswith("damaged: not a plain-data pickle")
    else:
        assert not callable(value) or value in unpickle.GLOBALS.values()


ROWS = st.dictionaries(
    st.sampled_from(DATASETS),
    st.dictionaries(st.sampled_from(METRICS), st.floats(-1e6, 1e6, allow_nan=False), min_size=1), min_size=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from([A, B, C]), ROWS, min_size=1))
def test_any_csv_table_round_trips_through_write_csv(tmp_path, tables):
    columns = [(d, m) for d in DATASETS for m in METRICS]
    lines = ["arch," + ",".join(f"{d}/{m}" for d, m in columns)]
    for string, rows in tables.items():
        lines.append(string + "," + ",".join(repr(rows[d][m]) if m in rows.get(d, {}) else "" for d, m in columns))
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    table = nasbench201.load_table(tmp_path / "in.csv")
    table.write_csv(tmp_path / "out.csv")
    again = nasbench201.load_table(tmp_path / "out.csv")
    decode = nasbench201.space().decode
    for string, rows in tables.items():
        assert table.rows(decode(string)) == again.rows(decode(string)) == rows


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on a byte that became a protocol
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["pth", "legacy-pth", "pbz2", "pickle"]), st.data())
def test_a_damaged_official_file_loads_or_is_refused_naming_it(tmp_path, kind, data):
    path = write(kind, tmp_path)
    blob = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    path.write_bytes(bytes(blob))
    try:
        table = nasbench201.load_table(path)
    except SpaceError as error:
        assert path.name in str(error)
    else:
        assert all(set(table.rows(a)) <= set(DATASETS) for a in table.archs())


def test_a_table_travels_to_worker_processes(pth):
    """Executors pickle the objective, and with it the space and its table."""
    space = nasbench201.space(table=nasbench201.load_table(pth))
    again = pickle.loads(pickle.dumps(space))
    a = space.decode(A)
    assert again.query(a, "cifar100") == space.query(a, "cifar100") and again.table.source == space.table.source
