"""The command line as a user reads it (issue 14), each item kept fixed.

- Usage errors are one line on stderr and exit status 2, without argparse's usage block: a wrong choice names the
  valid ones (and the closest, for a typo), a misspelt option is named by its command with the closest option, and
  an ``--option`` the space does not take names the space's options.
- Output piped into a reader that stops early (``wiring info g.json | head -1``) ends the command quietly: nothing
  on stderr, exit status 141 (128 + SIGPIPE).
- Every option's help shows its default once, and only a default that means something.
- ``generate`` and ``draw`` report what they wrote on stdout.
- ``wiring search`` (black-box) prints a header (space, data, strategy, budget) before the trials, a table whose
  columns a legend explains (no duplicated column: nasbench_graph's ``perf`` is ``test_accuracy``), encodings whole
  unless ``--width`` cuts them, and refuses options that do not apply (training options on a table space), even
  when given at their default value.
"""

from __future__ import annotations

import argparse
import inspect
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import test_cli as cli

import spaces
from wiring.cli import EXIT_PIPE, build_parser, main
from wiring.cli.catalog import SPACES
from wiring.cli.run_search import trial_table
from wiring.search.runner import SearchResult, Trial

ROOT = Path(__file__).resolve().parents[2]
TABLE = ["search", "--space", "nasbench_graph", "--strategy", "randomsearch", "--quiet"]


def usage_line(capsys, *argv) -> str:
    """The one stderr line of a usage error (SystemExit 2, nothing on stdout)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "usage:" not in lines[0] and "Traceback" not in captured.err
    return lines[0]


# -- usage errors: one line, the valid names -------------------------------------------------------------------


@pytest.mark.parametrize("argv, flag, choices", [
    (["search", "--space", "foo"], "--space", SPACES),
    (["search", "--space", "darts", "--strategy", "foo"], "--strategy", ("regularizedevolution", "darts+", "gdas")),
    (["generate", "foo"], "generator", ("ba", "er", "ws", "ws_flex")),
    (["train", "--randwire", "huge"], "--randwire", ("cifar", "regular", "small")),
    (["frobnicate"], "COMMAND", ("compare", "generate", "draw", "info", "train", "search")),
])
def test_a_bad_choice_is_one_line_naming_the_valid_ones(capsys, argv, flag, choices):
    line = usage_line(capsys, *argv)
    prog = "wiring" if argv[0] == "frobnicate" else f"wiring {argv[0]}"
    assert line.startswith(f"{prog}: error: argument {flag}: invalid choice ")
    assert repr(argv[-1]) in line
    listed = line.rsplit("choose from ", 1)[1].split(", ")
    assert set(choices) <= set(listed)


@pytest.mark.parametrize("argv, meant", [
    (["search", "--space", "nasbench_grph"], "nasbench_graph"),
    (["search", "--space", "darts", "--strategy", "regularizedevolutoin"], "regularizedevolution"),
    (["generate", "ws_flx"], "ws_flex"),
])
def test_a_misspelt_choice_gets_the_closest(capsys, argv, meant):
    assert f"(did you mean {meant!r}?)" in usage_line(capsys, *argv)


@pytest.mark.parametrize("argv, meant", [
    (["search", "--space", "darts", "--parm", "population=3"], "--param"),
    (["search", "--space", "darts", "--parm=population=3"], "--param"),
    (["train", "--randwire", "cifar", "--epocs", "1"], "--epochs"),
    (["info", "g.json", "--input-shpe", "3,8,8"], "--input-shape"),
])
def test_a_misspelt_option_is_named_by_its_command(capsys, argv, meant):
    line = usage_line(capsys, *argv)
    assert line.startswith(f"wiring {argv[0]}: error: unrecognized argument")  # the command's, not the top level
    assert f"(did you mean {meant!r}?)" in line


def test_an_unknown_option_far_from_any_points_to_the_help(capsys):
    line = usage_line(capsys, "search", "--space", "darts", "--zzzz")
    assert line == "wiring search: error: unrecognized argument: --zzzz; see 'wiring search --help'"


def test_a_missing_argument_names_what_it_takes(capsys):
    assert "COMMAND is one of compare, generate, draw, info, train, search" in usage_line(capsys)
    assert "--space is one of amoebanet, darts" in usage_line(capsys, "search")


def test_a_bad_space_option_names_the_space_options(capsys):
    line = cli.fails(capsys, "search", "--space", "nasbench201", "--option", "chanels=8", "--budget", 1, "--quiet")
    assert line.startswith("wiring search: error: --option chanels: space 'nasbench201' has no option 'chanels'")
    assert "(did you mean 'channels'?)" in line
    assert line.endswith("its options: " + ", ".join(inspect.signature(spaces.nasbench201.space).parameters))
    assert "unexpected keyword" not in line


def test_a_bad_option_of_a_space_taking_any_options_names_them_too(capsys):
    line = cli.fails(capsys, "search", "--space", "nasrl", "--option", "layerz=2", "--budget", 1, "--quiet")
    assert "'layerz'" in line and "layers" in line and "unexpected keyword" not in line


@pytest.mark.parametrize("argv", [
    ["compare", "--epochs", "0"],
    ["train", "--randwire", "cifar", "--epochs", "0"],
    ["search", "--space", "nasbench201", "--epochs", "0"],
    ["search", "--space", "nasbench201", "--strategy", "darts", "--epochs", "0"],
])
def test_epochs_zero_is_refused_before_anything_runs(capsys, argv):
    assert usage_line(capsys, *argv).endswith("argument --epochs: must be an int >= 1, got 0")


# -- a reader that stops early ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph_json(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipe") / "g.json"
    assert main(["generate", "ws", "--nodes", "8", "-o", str(path)]) == 0
    return path


def closed_pipe(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """``wiring argv`` with its stdout a pipe whose reading end is closed before the command writes."""
    process = subprocess.Popen([sys.executable, "-m", "wiring.cli", *argv], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read()
    process.stderr.close()
    return subprocess.CompletedProcess(argv, process.wait(timeout=120), None, err.decode())


@pytest.mark.parametrize("argv", [
    ["info", "{graph}"],
    ["generate", "ws", "--nodes", "8"],
    ["draw", "{graph}", "-o", "{dir}/g.png"],
    ["search", "--space", "nasbench_graph", "--budget", "2", "--quiet"],
    ["search", "--help"],
])
def test_a_closed_stdout_ends_the_command_quietly(graph_json, argv):
    argv = [a.format(graph=graph_json, dir=graph_json.parent) for a in argv]
    done = closed_pipe(*argv, cwd=ROOT)
    assert done.stderr == ""
    assert done.returncode in (0, EXIT_PIPE)  # 0 where everything fitted the pipe before it was found closed
    if argv[0] in ("info", "generate"):
        assert done.returncode == EXIT_PIPE


def test_head_reads_one_line_and_nothing_is_reported(tmp_path):
    """``wiring generate ... | head -1`` with more output than the pipe holds (so the write does fail)."""
    command = f"{sys.executable} -m wiring.cli generate ws --network regular --nodes 96 | head -1; " \
              "echo \"status ${PIPESTATUS[0]}\" >&2"
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout == "{\n"
    assert done.stderr == f"status {EXIT_PIPE}\n"


class BrokenStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_in_process(monkeypatch, capsys, graph_json):
    monkeypatch.setattr(sys, "stdout", BrokenStdout())
    assert main(["info", str(graph_json)]) == EXIT_PIPE
    monkeypatch.undo()
    assert capsys.readouterr().err == ""


# -- help: one default per option -------------------------------------------------------------------------------


def commands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if a.dest == "command"]
    return dict(action.choices)


def option_entries(text: str) -> list[str]:
    """The help's option entries, each one string (its wrapped lines joined)."""
    entries: list[str] = []
    for line in text.split("options:", 1)[1].split("\n\n", 1)[0].splitlines():
        if re.match(r"^  \S", line):
            entries.append(line.strip())
        elif entries:
            entries[-1] += " " + line.strip()
    return entries


@pytest.mark.parametrize("command", ["compare", "generate", "draw", "info", "train", "search"])
def test_every_option_shows_its_default_once(command):
    text = commands()[command].format_help()
    entries = option_entries(text)
    assert len(entries) >= 2
    for entry in entries:
        assert entry.count("default:") <= 1, entry
        assert not re.search(r"\(default: (None|False|\[\])\)", entry), entry


def test_meaningful_defaults_are_still_shown():
    search = {e.split()[0]: e for e in option_entries(commands()["search"].format_help())}
    assert "(default: regularizedevolution)" in search["--strategy"]
    assert "(default: 20)" in search["--budget"] and "(default: 2)" in search["--epochs"]
    assert "(default: 0)" in search["--seed"]
    assert "default" not in search["--quiet"] and "default" not in search["--ray-address"]
    train = {e.split()[0]: e for e in option_entries(commands()["train"].format_help())}
    assert "(default: 5)" in train["--epochs"] and "(default: train every epoch)" in train["--patience"]


def test_search_help_says_which_options_apply_where():
    text = commands()["search"].format_help()
    block = text.split("Which options apply", 1)[1].split("options:", 1)[0]
    assert "refused" in block
    for flag in ("--budget", "--epochs", "--dataset", "--save", "--retrain-epochs", "--width", "--objectives"):
        assert flag in block, flag
    assert "nasbench_graph" in block


# -- the same stream for what was written -----------------------------------------------------------------------


def test_generate_and_draw_report_on_stdout(capsys, tmp_path):
    graph, png = tmp_path / "g.json", tmp_path / "g.png"
    for argv, path in ((["generate", "ws", "--nodes", "6", "-o", graph], graph), (["draw", graph, "-o", png], png)):
        code, out, err = cli.run(capsys, *argv)
        assert (code, out, err) == (0, f"wrote {path}\n", "")


# -- wiring search: header, table, legend, what does not apply ---------------------------------------------------


@pytest.fixture(scope="module")
def table_search() -> str:
    """The stdout of a 12-trial black-box search of nasbench_graph (a table lookup per trial)."""
    stdout = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(io.StringIO()):
        assert main([*TABLE, "--budget", "12"]) == 0
    return stdout.getvalue()


def table_rows(out: str) -> tuple[list[str], list[list[str]]]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#  ") or line.startswith("#   "))
    header = lines[start].split()
    rows = []
    for line in lines[start + 2:]:
        if not re.match(r"^\d+\s", line):
            break
        rows.append(line.split())
    return header, rows


def test_the_search_header_comes_before_the_trials(table_search):
    lines = table_search.splitlines()
    assert lines[0] == "search   nasbench_graph with randomsearch (RandomSearch): budget 12 trials, seed 0"
    assert lines[1] == "space    SMALL: dataset=cora, hidden=8, num_features=12"
    assert lines[2].startswith("data     none: each candidate is looked up in the benchmark's table of cora")
    assert lines[3] == "trials   run in this process, kept in memory"
    assert lines[4].startswith("#")


def test_the_table_has_one_column_per_quantity_and_a_legend(table_search):
    header, rows = table_rows(table_search)
    assert header == ["#", "status", "score", "test_accuracy", "latency", "para", "seconds", "graph", "encoding"]
    assert "perf" not in header and "valid_perf" not in header
    assert len(rows) == 10 and "12 trials (the 10 best shown): 12 complete, 0 failed" in table_search
    legend = table_search.split("columns: ", 1)[1].split("\n12 trials", 1)[0].replace("\n  ", " ")
    for column in header[2:]:
        assert f"{column} = " in legend, column
    assert "score = the table's validation accuracy (its valid_perf)" in legend
    assert "test_accuracy = the table's test accuracy (its perf, not printed twice)" in legend


def test_the_table_shows_the_table_s_values(table_search):
    space = spaces.nasbench_graph.space(**spaces.nasbench_graph.SMALL)
    header, rows = table_rows(table_search)
    for row in rows:
        cells = dict(zip(header, row))
        table_row = space.query(space.decode(cells["encoding"]))
        assert float(cells["score"]) == pytest.approx(table_row["valid_perf"], rel=1e-5)
        assert float(cells["test_accuracy"]) == pytest.approx(table_row["perf"], rel=1e-5)
        assert float(cells["para"]) == pytest.approx(table_row["para"], rel=1e-5)


def test_a_training_search_names_its_data_and_prints_encodings_whole(capsys):
    code, out, err = cli.run(capsys, "search", "--space", "nasbench201", "--strategy", "randomsearch", "--budget", 1,
                             "--epochs", 1, "--data-fraction", 0.1, "--quiet")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "search   nasbench201 with randomsearch (RandomSearch): budget 1 trial, seed 0"
    assert lines[1].startswith("space    SMALL: channels=8, cells_per_stage=1")
    data = re.sub(r"\s+", " ", " ".join(lines[2:4]))
    assert data.startswith("data digits: 1257 training") and "1 epoch(s) per candidate" in data
    assert "…" not in out
    header, rows = table_rows(out)
    assert header == ["#", "status", "score", "test_accuracy", "params", "macs", "seconds", "graph", "encoding"]
    encoding = rows[0][-1]
    assert len(encoding) > 40 and out.count(encoding) >= 2  # whole in the table and in the best line
    assert "score = validation accuracy after 1 epoch(s), which the strategy maximises" in out.replace("\n  ", " ")


def result_of(*trials: Trial) -> SearchResult:
    return SearchResult(list(trials))


def test_width_cuts_encodings_and_failures_are_listed():
    long = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    result = result_of(Trial(0, long, "complete", 0.5, {"test_accuracy": 0.4, "params": 10, "macs": 20},
                             graph_hash="abcdef0123", duration=1.0),
                       Trial(1, long[::-1], "failed", error="Traceback ...\nRuntimeError: out of memory"))
    whole = trial_table(result, table=False, epochs=2)
    assert long in whole and "…" not in whole
    assert "failed #1: RuntimeError: out of memory" in whole
    assert "2 trials: 1 complete, 1 failed; best #0: 0.5" in whole
    cut = trial_table(result, table=False, epochs=2, width=12)
    assert long[:11] + "…" in cut and "cut to 12 characters" in cut.replace("\n  ", " ")
    assert long not in cut.split("\ncolumns:")[0]


def test_several_objectives_add_the_columns_the_score_is_not():
    trial = Trial(0, "a", "complete", -10.0, {"test_accuracy": 0.4, "params": 10, "macs": 20, "accuracy": 0.5})
    out = trial_table(result_of(trial), table=False, epochs=2, objectives={"params": "min", "accuracy": "max"})
    assert out.splitlines()[0].split() == ["#", "status", "score", "test_accuracy", "params", "macs", "accuracy",
                                           "seconds", "graph", "encoding"]
    assert "score = params (parameters of the network), negated: the first of --objectives" in out.replace("\n  ", " ")


@pytest.mark.parametrize("flag, value", [
    ("--epochs", "2"), ("--dataset", "digits"), ("--data-fraction", "1"), ("--limit", "100"),
    ("--data", "somewhere"), ("--image-size", "8"),
])
def test_training_options_are_refused_for_a_table_space(capsys, flag, value):
    """Even at its default value: the option is given, so the user thinks it does something."""
    cli.fails(capsys, *TABLE, "--budget", 2, flag, value,
              mentions=(f"{flag} does not apply to --space nasbench_graph", "table", "no training"))


@pytest.mark.parametrize("argv, flag", [
    (["--strategy", "darts", "--budget", "20"], "--budget"),
    (["--strategy", "darts", "--executor", "inline"], "--executor"),
    (["--strategy", "darts", "--width", "30"], "--width"),
    (["--strategy", "randomsearch", "--retrain-epochs", "0"], "--retrain-epochs"),
])
def test_options_of_the_other_family_are_refused_even_at_their_default(capsys, argv, flag):
    cli.fails(capsys, "search", "--space", "nasbench201", *argv, "--quiet", mentions=(f"{flag} does not apply",))
