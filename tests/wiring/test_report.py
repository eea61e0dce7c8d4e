"""wiring.report / ``wiring report``: one self-contained HTML page per job (issue 14).

Reports of a black-box search (single- and multi-objective, hyperparameters), of a one-shot checkpoint (a 1-epoch
DARTS search) and of a compare folder; the HTML parsed with html.parser; damaged and foreign files named; a
storage read while another connection writes it; the live server in a thread and as ``wiring report --serve``
(urllib, SIGINT). Then the page in a real browser: headless Chromium driven over the DevTools protocol (a small
stdlib websocket client below): no console error, every image loaded, a click on a header sorts the table, the
``#sort=`` hash sorts it too, and a served page reloads itself as trials land. The browser tests are skipped,
saying so, where no Chromium is installed (Debian: ``apt-get install chromium``).

Setting ``WIRING_REPORT_SCREENSHOT=docs/report.png`` makes the browser test save its 1200×900 screenshot there
(how docs/report.png was made).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

import generators
import wiring
from spaces import Categorical, Float, HyperparameterSpace, Int
from spaces import darts as darts_spaces
from spaces import spos as spos_spaces
from spaces import nasbench201
from wiring.search import NSGA2, RandomSearch, SearchError, load_result, run
from wiring.cli import main
from wiring.search.oneshot import DARTS, SPOS
from wiring.search.report import ReportServer, kind_of, render, write_report
from wiring.search.report.importance import eta_squared
from wiring.search.report.sources import stamp
from wiring.search.storage import Storage

import tiny_data
from test_runner import Toy, score

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = next((found for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if (found := shutil.which(name))), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH (Debian: apt-get install "
                                                            "chromium): the in-browser checks need a real browser")


# -- jobs to report on -----------------------------------------------------------------------------


def timed(arch: tuple) -> dict:
    """Toy's score with params, MACs and a simulated training time; fails for (3, 3, ...)."""
    if arch[0] == 3 and arch[1] == 3:
        raise RuntimeError(f"boom on {arch}")
    return {"score": score(arch), "params": 1000 * (arch[1] + 1), "macs": 50_000 * (arch[2] + 1),
            "time_cost": 10.0 + arch[3], "accuracy": score(arch) / 30}


def slow(arch: tuple) -> dict:
    """``timed``, 20 ms later."""
    time.sleep(0.02)
    return timed(arch)


def two(arch: tuple) -> dict:
    return {"accuracy": sum(arch) / 12, "params": 10 * arch[0] + arch[1]}


def tuned(config: tuple) -> float:
    """Mostly width, a little lr, nothing of depth."""
    values = dict(config)
    return {8: 0.5, 16: 0.7, 32: 0.9}[values["width"]] + 0.02 * (values["lr"] > 0.01)


NB201 = nasbench201.space(**nasbench201.SMALL)


def counted(arch: str) -> float:
    """A synthetic NAS-Bench-201 score (no training): the number of 3x3 convolutions."""
    return float(NB201.encode(arch).count("conv_3x3"))


HPARAMS = dict(lr=Float(1e-4, 1e-1, log=True), width=Categorical((8, 16, 32)), depth=Int(1, 4))


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "search.db"
    run(RandomSearch(Toy(), seed=0), timed, budget=40, storage=path, progress=False)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 1-epoch DARTS search on a tiny space: its checkpoint, space and result."""
    space = darts_spaces.space(**{**darts_spaces.SMALL, "layers": 3, "channels": 4, "image_size": 8, "nodes": 2})
    path = tmp_path_factory.mktemp("oneshot") / "darts.ckpt"
    data = tiny_data.digits(space.in_channels, space.image_size, train=32, val=32)
    result = DARTS(space, epochs=1, batch_size=32, progress=False, checkpoint=path).search(data)
    return path, space, result


RUN = {"params": 12345, "macs": 678900, "train_seconds": 1.5, "epochs_run": 2}


def compare_folder(folder: Path, *, grid: bool = False, complete: bool = True) -> Path:
    """A folder as ``wiring compare`` leaves it: results.json and one stage drawing per generator."""
    folder.mkdir(parents=True, exist_ok=True)
    runs, ops = [], ("sep", "conv") if grid else (None,)
    for k, op in enumerate(ops):
        for g, generator in enumerate(("er", "ba", "ws")):
            for seed in range(3):
                run_ = {"generator": generator, "graph_seed": seed, **RUN, "val_accuracy": 0.5 + 0.1 * g + 0.01 * seed,
                        "test_accuracy": 0.45 + 0.1 * g + 0.01 * seed - 0.02 * k}
                if op is not None:
                    run_.update(node_op=op, channels=16 + 8 * k)
                runs.append(run_)
    settings = {"generators": ["er", "ba", "ws"], "graphs": 3, "epochs": 2, "channels": 16, "nodes": 8, "seed": 0,
                "batch_size": 64, "lr": 0.01, "optimizer": "adam", "device": "cpu",
                "node_ops": list(ops) if grid else None}
    content = {"dataset": "Dataset(digits)", "settings": settings, "complete": complete,
               "runs": runs if complete else runs[:4]}
    if grid:
        content["correlations"] = [{"node_ops": ["sep", "conv"], "pearson_r": 0.97, "accuracy": "test"}]
    (folder / "results.json").write_text(json.dumps(content, indent=2))
    for generator, G in (("er", generators.erdos_renyi(8, 0.3, seed=0)), ("ws", generators.watts_strogatz(8, 4, 0.75,
                                                                                                          seed=0))):
        wiring.draw(G, folder / f"graph_{generator}.png", dpi=40)
    return folder


# -- reading the HTML --------------------------------------------------------------------------------


class Page(HTMLParser):
    """What a report holds: section ids, tables (id -> rows of cell texts, and row classes), images, every URL."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections, self.images, self.urls, self.ids, self.scripts = [], [], [], [], 0
        self.tables: dict[str, list[list[str]]] = {}
        self.row_classes: dict[str, list[str]] = {}
        self.headers: dict[str, list[str]] = {}
        self.body: dict[str, str] = {}
        self._table, self._row, self._cell, self._head = None, None, None, False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        for key in ("src", "href", "action", "data"):
            if key in a and a[key] is not None:
                self.urls.append(a[key])
        if tag == "body":
            self.body = a
        elif tag == "section":
            self.sections.append(a["id"])
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "table":
            self._table = a.get("id")
            self.tables[self._table], self.row_classes[self._table], self.headers[self._table] = [], [], []
        elif tag == "thead":
            self._head = True
        elif tag == "tbody":
            self._head = False
        elif tag == "tr" and self._table is not None and not self._head:
            self._row = []
            self.tables[self._table].append(self._row)
            self.row_classes[self._table].append(a.get("class") or "")
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if tag == "th" and self._head:
                self.headers[self._table].append(text)
            elif self._row is not None:
                self._row.append(text)
            self._cell = None
        elif tag == "table":
            self._table, self._row = None, None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def check_self_contained(text: str) -> Page:
    """The page parses, references nothing but inline data, and every image is a PNG data: URI."""
    page = Page(text)
    assert "http://" not in text and "https://" not in text
    assert all(url.startswith(("data:image/png;base64,", "#")) for url in page.urls), page.urls
    assert page.images and len(page.ids) == len(set(page.ids))
    for src in page.images:
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return page


# -- black-box searches ------------------------------------------------------------------------------


def test_a_search_report_holds_progress_importance_best_and_every_trial(storage, tmp_path):
    out = write_report(storage, tmp_path / "report.html", space=Toy())
    assert out == tmp_path / "report.html"
    page = check_self_contained(out.read_text())
    assert page.body["data-kind"] == "search" and "data-live" not in page.body
    assert page.sections == ["progress", "importance", "best", "trials"]
    result = load_result(storage, Toy())
    rows = page.tables["trials-table"]
    assert len(rows) == len(result.trials) == 40
    assert page.headers["trials-table"][:6] == ["#", "status", "score", "params", "MACs", "accuracy"]
    assert [int(r[0]) for r in rows] == [t.number for t in result.trials]
    failed = [r for r, cls in zip(rows, page.row_classes["trials-table"]) if cls == "failed"]
    assert len(failed) == len(result.failed) > 0 and all("RuntimeError: boom on (3, 3" in r[-1] for r in failed)
    assert page.row_classes["trials-table"].count("best") == 1
    assert page.tables["best-table"][0][1] == str(result.best.number)
    # progress: against trials and against the simulated clock of time_cost; 1 progress + 1 importance + 3 drawings
    assert "adds its time_cost metric to the clock" in out.read_text()
    assert len(page.images) == 5
    # importance from the space's decisions: d3 weighs 4x d0 in the score
    names = [r[0] for r in page.tables["importance-table"]]
    assert set(names) == {"d0", "d1", "d2", "d3"} and names[0] == "d3"


def test_without_a_space_the_report_has_no_drawings_and_says_how_to_get_them(storage):
    page = check_self_contained(render(storage))
    assert "best" in page.sections and len(page.images) == 1  # progress only: Toy records no hyperparameters
    assert "importance" not in page.sections
    assert "space=" in render(storage)


def test_a_multi_objective_report_shows_the_pareto_front(tmp_path):
    path = tmp_path / "mo.db"
    result = run(NSGA2(Toy(), seed=0, population=6, offspring=6), two, budget=24, storage=path,
                 objectives={"accuracy": "max", "params": "min"}, progress=False)
    page = check_self_contained(render(path, space=Toy()))
    assert page.sections == ["progress", "pareto", "importance", "best", "trials"]
    front = page.tables["front-table"]
    assert sorted(int(r[0]) for r in front) == sorted(t.number for t in result.front)
    assert page.headers["front-table"] == ["#", "accuracy (max)", "params (min)", "encoding"]


def test_parameter_importance_of_a_hyperparameter_search(tmp_path):
    path = tmp_path / "hp.db"
    space = HyperparameterSpace(**HPARAMS)
    run(RandomSearch(space, seed=3), tuned, budget=30, storage=path, progress=False)
    for given in (space, None):  # from the decisions (grid values), or from the recorded hyperparameters (binned)
        page = check_self_contained(render(path, space=given))
        rows = page.tables["importance-table"]
        assert rows[0][0] == "width" and float(rows[0][1]) > 0.8, rows
        assert rows[0][3].startswith("32 ")  # the best width, with its trials and mean score
        assert {r[0] for r in rows} <= {"lr", "width", "depth"}
        assert page.sections == ["progress", "importance", "best", "trials"]
    assert "no drawing" in render(path, space=space)  # a configuration has no graph: said, not raised


def test_eta_squared_is_the_share_of_variance_between_groups():
    assert eta_squared(["a", "a", "b", "b"], [1.0, 1.0, 3.0, 3.0]) == 1.0
    assert eta_squared(["a", "b", "a", "b"], [1.0, 1.0, 3.0, 3.0]) == 0.0
    assert eta_squared(["a", "a", "b", "b"], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(4 / 5)  # between 4, total 5
    assert eta_squared(["a", "a"], [1.0, 2.0]) is None and eta_squared(["a", "b"], [1.0, 1.0]) is None


def test_a_report_is_made_while_another_connection_writes_the_storage(tmp_path):
    path = tmp_path / "live.db"
    run(RandomSearch(Toy(), seed=1), slow, budget=6, storage=path, progress=False)
    # a writer in the middle of a transaction, holding the storage's lock: the report reads the committed trials
    writer = Storage(path)
    try:
        writer.db.execute("BEGIN IMMEDIATE")
        writer.db.execute("UPDATE trials SET score=-1 WHERE number=0")
        page = Page(render(path))
        assert len(page.tables["trials-table"]) == 6 and page.tables["trials-table"][0][2] != "-1"
        writer.db.execute("ROLLBACK")
    finally:
        writer.close()
    # a search running in another thread: every report sees a consistent, growing storage
    done = threading.Event()
    errors = []

    def search():
        try:
            run(RandomSearch(Toy(), seed=1), slow, budget=40, storage=path, progress=False)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=search)
    thread.start()
    counts = []
    while not done.is_set():
        counts.append(len(Page(render(path)).tables["trials-table"]))
    thread.join()
    assert not errors and counts == sorted(counts) and counts[0] >= 6 and len(set(counts)) > 1
    # reading changes nothing in the database file, and leaves the storage to its next search
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    render(path, space=Toy())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert len(run(RandomSearch(Toy(), seed=1), slow, budget=41, storage=path, progress=False).trials) == 41


# -- one-shot checkpoints ----------------------------------------------------------------------------


def test_a_oneshot_report_shows_alpha_per_epoch_and_the_derived_architecture(checkpoint, tmp_path):
    path, space, result = checkpoint
    assert kind_of(path) == "oneshot"
    text = write_report(path, tmp_path / "oneshot.html", space=space).read_text()
    page = check_self_contained(text)
    assert page.body["data-kind"] == "oneshot"
    assert page.sections == ["setup", "alphas", "strongest", "derived"]
    assert len(page.images) == 3  # one heatmap per α key (normal, reduce), the derived network
    assert space.encode(result.arch) in html.unescape(text)  # the architecture the search itself derived
    strongest = page.tables["strongest-table"]
    assert len(strongest) == sum(a.shape[0] for a in result.alpha_history[-1].values()) == 10
    assert {r[1] for r in strongest} == {f"{key}[{i}]" for key in ("normal", "reduce") for i in range(5)}
    assert all(r[2] in darts_spaces.PRIMITIVES for r in strongest)
    plain = check_self_contained(render(path))  # no space: candidates numbered, no derived architecture
    assert plain.sections == ["setup", "alphas", "strongest", "derived"] and len(plain.images) == 2
    assert all(r[2].startswith("candidate ") for r in plain.tables["strongest-table"])


def test_the_cli_reports_a_checkpoint_in_the_space_it_records(checkpoint, tmp_path, capsys):
    path, space, result = checkpoint
    assert main(["report", str(path), "-o", str(tmp_path / "cli.html")]) == 0
    assert capsys.readouterr() == (f"wrote {tmp_path / 'cli.html'}\n", "")  # the space rebuilt: no note
    text = (tmp_path / "cli.html").read_text()
    assert len(check_self_contained(text).images) == 3 and space.encode(result.arch) in html.unescape(text)


def test_a_strategy_without_alpha_gets_its_setup_candidates_and_losses(tmp_path):
    space = spos_spaces.space(**spos_spaces.SMALL)
    path = tmp_path / "spos.ckpt"
    SPOS(space, seed=1, epochs=2, batch_size=32, search_budget=6, population=4, top_k=2, mutations=2, crossovers=2,
         bn_batches=1, val_size=32, progress=False, checkpoint=path).search(tiny_data.digits(3, space.image_size,
                                                                                             train=64, val=32))
    page = check_self_contained(render(path, space=space))
    assert page.sections == ["setup", "alphas", "candidates", "losses"]
    assert len(page.tables["candidates-table"]) == 6 and len(page.images) == 2  # the best candidate, the losses
    scores = [float(r[1]) for r in page.tables["candidates-table"]]
    assert scores == sorted(scores, reverse=True)


# -- compare folders ---------------------------------------------------------------------------------


def test_a_compare_report_shows_every_network_the_tables_and_the_drawings(tmp_path):
    folder = compare_folder(tmp_path / "cmp")
    for source in (folder, folder / "results.json"):
        assert kind_of(source) == "compare"
        page = check_self_contained(render(source))
        assert page.sections == ["accuracy", "generators", "runs", "drawings"]
        assert len(page.tables["runs-table"]) == 9
        assert [r[0] for r in page.tables["generators-table"]] == ["ER(0.2)", "BA(5)", "WS(4, 0.75)"]
        assert page.tables["generators-table"][2][6] == "66.0"  # WS: mean test accuracy of 0.65, 0.66, 0.67
        assert len(page.images) == 3  # the accuracy plot and the folder's two drawings
    folder_png = (folder / "graph_ws.png").read_bytes()
    assert base64.b64encode(folder_png).decode() in render(folder)  # inlined as they are
    grid = check_self_contained(render(compare_folder(tmp_path / "grid", grid=True)))
    assert "correlations" in grid.sections and grid.tables["correlations-table"] == [["sep", "conv", "0.970"]]
    assert len(grid.tables["generators-table"]) == 6 and grid.headers["runs-table"][:2] == ["node op", "C"]
    unfinished = render(compare_folder(tmp_path / "part", complete=False))
    assert "unfinished" in unfinished and "4 of 9" in unfinished


# -- what is not a report's source --------------------------------------------------------------------


def test_damaged_or_foreign_sources_are_refused_naming_them(storage, checkpoint, tmp_path):
    cases = {name: tmp_path / file for name, file in (
        ("missing", "missing.db"), ("random", "random.bin"), ("sqlite", "other.db"), ("edited", "edited.db"),
        ("checkpoint", "flipped.ckpt"), ("folder", "empty"), ("json", "bad/results.json"))}
    cases["random"].write_bytes(random.Random(0).randbytes(3000))
    other = sqlite3.connect(cases["sqlite"])
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    shutil.copy(storage, cases["edited"])
    with sqlite3.connect(cases["edited"]) as db:
        db.execute("UPDATE trials SET score = score + 1 WHERE number = 2")
    data = bytearray(checkpoint[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    cases["checkpoint"].write_bytes(bytes(data))
    cases["folder"].mkdir()
    cases["json"].parent.mkdir()
    cases["json"].write_text(json.dumps({"runs": [{"generator": "ws", "test_accuracy": "high"}]}))
    for name, path in cases.items():
        with pytest.raises(SearchError, match=re.escape(repr(str(path)))) as caught:
            render(path)
        assert "\n" not in str(caught.value), name
    with pytest.raises(SearchError, match="damaged"):
        render(cases["edited"])
    with pytest.raises(SearchError, match="does not exist"):
        write_report(storage, tmp_path / "nowhere" / "r.html")
    with pytest.raises(SearchError, match="top must be"):
        render(storage, top=0)


# -- serving -------------------------------------------------------------------------------------------


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_server_regenerates_the_page_when_the_storage_changes(tmp_path):
    path = tmp_path / "served.db"
    run(RandomSearch(Toy(), seed=2), timed, budget=5, storage=path, progress=False)
    with ReportServer(path, space=Toy()).start() as server:
        assert server.httpd.server_address[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
        status, text = fetch(server.url)
        page = Page(text)
        assert status == 200 and "data-live" in page.body and len(page.tables["trials-table"]) == 5
        assert fetch(server.url + "stamp") == (200, stamp(path)) and fetch(server.url)[1] == text
        assert server.renders == 1  # unchanged storage: the same page
        before = stamp(path)
        run(RandomSearch(Toy(), seed=2), timed, budget=9, storage=path, progress=False)
        assert fetch(server.url + "stamp")[1] == stamp(path) != before
        assert len(Page(fetch(server.url)[1]).tables["trials-table"]) == 9 and server.renders == 2
        assert fetch(server.url + "elsewhere")[0] == 404


def test_the_server_answers_an_unreadable_source_with_a_page_that_keeps_polling(tmp_path):
    path = tmp_path / "later.db"
    with ReportServer(path).start() as server:
        status, text = fetch(server.url)
        assert status == 503 and "does not exist" in text and "stamp" in text
        run(RandomSearch(Toy(), seed=2), timed, budget=3, storage=path, progress=False)
        assert len(Page(fetch(server.url)[1]).tables["trials-table"]) == 3


def test_the_cli_writes_a_report_drawing_the_recorded_space_and_serves_until_ctrl_c(tmp_path):
    path = tmp_path / "nb201.db"
    run(RandomSearch(NB201, seed=0), counted, budget=8, storage=path, progress=False)
    done = subprocess.run([sys.executable, "-m", "wiring.cli", "report", str(path), "--top", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {tmp_path / 'nb201.html'}" and done.stderr == ""
    page = check_self_contained((tmp_path / "nb201.html").read_text())
    assert len(page.images) == 2 + 2  # progress, importance, the 2 best drawn in the rebuilt space
    refused = subprocess.run([sys.executable, "-m", "wiring.cli", "report", str(path), "--port", "1"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stderr.strip() == "wiring report: error: --port applies to --serve only"

    serving = subprocess.Popen([sys.executable, "-m", "wiring.cli", "report", "--serve", str(path)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = serving.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        status, text = fetch(url)
        assert status == 200 and len(Page(text).tables["trials-table"]) == 8
        serving.send_signal(signal.SIGINT)
        out, err = serving.communicate(timeout=60)
    finally:
        if serving.poll() is None:
            serving.kill()
            serving.wait()
    assert serving.returncode == 0 and err.strip() == f"wiring report: stopped serving {url}"


# -- in a real browser ---------------------------------------------------------------------------------


class WebSocket:
    """The client side of RFC 6455 for one DevTools connection: text frames out (masked), frames in."""

    def __init__(self, url: str) -> None:
        match = re.fullmatch(r"ws://([^/:]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((match.group(1), int(match.group(2))), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {match.group(3)} HTTP/1.1\r\nHost: {match.group(1)}:{match.group(2)}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.split(b"\r\n")[0].split()[1] == b"101", head

    def send(self, text: str) -> None:
        data, mask = text.encode(), os.urandom(4)
        n = len(data)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
                                  if n < 1 << 16 else bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exactly(self, n: int) -> bytes:
        chunks = b""
        while len(chunks) < n:
            chunk = self.sock.recv(n - len(chunks))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            chunks += chunk
        return chunks

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._exactly(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exactly(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exactly(8))[0]
            payload = self._exactly(n)
            opcode = first & 0x0F
            if opcode == 8:
                raise ConnectionError("DevTools closed the connection")
            if opcode in (0, 1, 2):
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        self.sock.close()


class Browser:
    """Headless Chromium on 127.0.0.1, one page driven over the DevTools protocol; records console messages,
    uncaught exceptions and log entries (failed loads, blocked resources) as they come."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1200,900", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            assert time.monotonic() < deadline and self.process.poll() is None, "Chromium did not start"
            time.sleep(0.1)
        port = int(active.read_text().splitlines()[0])
        while True:
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                break
            assert time.monotonic() < deadline, "Chromium opened no page"
            time.sleep(0.1)
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
        self.next_id, self.events = 0, []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == self.next_id:
                assert "error" not in message, (method, message["error"])
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(json.loads(self.ws.receive()))
        raise AssertionError(f"no {method} within {timeout} s")

    def open(self, url: str) -> None:
        """Load ``url`` as a new document (by way of about:blank, so that a new #hash loads the page again)."""
        for target in ("about:blank", url):
            self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
            self.call("Page.navigate", url=target)
            self.wait_for("Page.loadEventFired")

    def js(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def until(self, expression: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"{expression} stayed false for {timeout} s")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the middle of the element, scrolled into view."""
        x, y = self.js(f"(function(){{var e=document.querySelector({json.dumps(selector)});"
                       f"e.scrollIntoView({{block:'center'}});var r=e.getBoundingClientRect();"
                       f"return [r.x+r.width/2,r.y+r.height/2];}})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and error log entries recorded so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return found

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        self.ws.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def browser(tmp_path):
    found = Browser(tmp_path / "profile")
    yield found
    found.close()


COLUMN = ("(function(){{var heads=document.querySelectorAll('#trials-table thead th');"
          "var i=Array.prototype.findIndex.call(heads, function(th){{return th.getAttribute('data-key')==='{key}';}});"
          "return Array.prototype.map.call(document.querySelectorAll('#trials-table tbody tr'), function(r){{"
          "var v=r.cells[i].getAttribute('data-v'); return v === null || v === '' ? null : parseFloat(v);}});}})()")
"""The values of column ``key`` of the trial table, top to bottom (None for an empty cell)."""


def ordered(values: list, descending: bool) -> bool:
    """Numbers in order, every empty cell after them."""
    numbers = [v for v in values if v is not None]
    return values == numbers + [None] * (len(values) - len(numbers)) and numbers == sorted(numbers, reverse=descending)


@needs_chromium
def test_in_chromium_the_report_loads_without_errors_and_its_table_sorts(storage, browser, tmp_path):
    report = write_report(storage, tmp_path / "report.html", space=Toy())
    browser.open(report.as_uri())
    assert browser.until("document.body.getAttribute('data-images')") == "loaded 5"
    assert browser.js("Array.prototype.every.call(document.images, function(i){return i.naturalWidth > 0;})")
    scores = COLUMN.format(key='score')
    assert not ordered(browser.js(scores), True)
    browser.click("#trials-table th[data-key=score]")  # scores sort descending on the first click
    assert browser.js("document.getElementById('trials-table').getAttribute('data-sorted')") == "-score"
    assert ordered(browser.js(scores), descending=True) and browser.js("location.hash") == "#sort=-score"
    browser.click("#trials-table th[data-key=score]")
    assert ordered(browser.js(scores), descending=False) and browser.js("location.hash") == "#sort=score"
    browser.click("#trials-table th[data-key=number]")
    assert browser.js(COLUMN.format(key='number')) == list(range(40))
    # the hash sorts as a click does: on load, and when it changes
    browser.open(report.as_uri() + "#sort=-params")
    assert ordered(browser.js(COLUMN.format(key='params')), descending=True)
    browser.js("location.hash = '#sort=seconds'")
    browser.until("document.getElementById('trials-table').getAttribute('data-sorted') === 'seconds'")
    assert ordered(browser.js(COLUMN.format(key='seconds')), descending=False)
    browser.open(report.as_uri() + "#sort=-score")
    browser.until("document.body.getAttribute('data-images')")
    shot = browser.screenshot()
    assert shot.startswith(b"\x89PNG") and struct.unpack(">II", shot[16:24]) == (1200, 900)
    target = os.environ.get("WIRING_REPORT_SCREENSHOT")
    if target:
        Path(target).write_bytes(shot)
    assert browser.problems() == []


@needs_chromium
def test_in_chromium_the_oneshot_and_compare_reports_load_without_errors(checkpoint, browser, tmp_path):
    path, space, _ = checkpoint
    for source, images in ((path, 3), (compare_folder(tmp_path / "cmp", grid=True), 3)):
        report = write_report(source, tmp_path / f"{source.stem}.html", space=space if source == path else None)
        browser.open(report.as_uri() + "#sort=-weight")
        assert browser.until("document.body.getAttribute('data-images')") == f"loaded {images}"
    assert browser.js("document.querySelector('table[data-main]').id") == "runs-table"
    assert browser.problems() == []


@needs_chromium
def test_in_chromium_a_served_report_reloads_itself_as_trials_land(browser, tmp_path):
    path = tmp_path / "live.db"
    run(RandomSearch(Toy(), seed=4), timed, budget=4, storage=path, progress=False)
    rows = "document.querySelectorAll('#trials-table tbody tr').length"
    with ReportServer(path).start() as server:
        browser.open(server.url + "#sort=-number")
        assert browser.js(rows) == 4 and browser.js("document.body.hasAttribute('data-live')")
        run(RandomSearch(Toy(), seed=4), timed, budget=7, storage=path, progress=False)
        assert browser.until(f"{rows} === 7 && document.body.getAttribute('data-images')", timeout=30)
        assert browser.js(COLUMN.format(key='number'))[0] == 6  # the order kept across the reload (the hash)
    assert browser.problems() == []
