"""One root error class: every error the library raises is a WiringError, and ``except WiringError`` catches them all."""

import networkx as nx
import pytest

import generators
import ops
import spaces
import wiring
from generators import GeneratorError, WiringError
from ops import OpError
from spaces import SpaceError
from wiring import DataError, GraphError, TrainError
from wiring.search import RegularizedEvolution, SearchError

PACKAGE_ERRORS = [GeneratorError, OpError, GraphError, SpaceError, SearchError, DataError, TrainError]
SIBLINGS = [SearchError, DataError, TrainError]


def test_every_package_re_exports_the_one_root():
    assert ops.WiringError is wiring.WiringError is spaces.WiringError is generators.WiringError is WiringError
    assert issubclass(WiringError, ValueError)
    for package in (generators, ops, wiring, spaces):
        assert "WiringError" in package.__all__


@pytest.mark.parametrize("error", PACKAGE_ERRORS, ids=lambda e: e.__name__)
def test_every_package_error_is_a_wiring_error(error):
    assert issubclass(error, WiringError) and issubclass(error, ValueError)
    assert error is not WiringError


@pytest.mark.parametrize("error", SIBLINGS, ids=lambda e: e.__name__)
def test_search_data_and_train_errors_are_siblings_of_the_graph_error(error):
    assert not issubclass(error, GraphError)
    assert error.__bases__ == (WiringError,)


def test_errors_of_others_are_not_wiring_errors():
    assert not issubclass(ValueError, WiringError)
    assert not issubclass(TypeError, WiringError)


def _invalid_graph():
    G = nx.DiGraph()
    G.add_node("x", op="input", params={"channels": 3, "size": [8, 8]})
    G.add_node("y", op="output")  # nothing feeds the output: x -> y is missing
    return G


FAILURES = {
    "generator": (GeneratorError, lambda: generators.erdos_renyi(0, 0.5, seed=0)),
    "op": (OpError, lambda: ops.get("no_such_op")),
    "graph": (GraphError, lambda: wiring.validate(_invalid_graph())),
    "space": (SpaceError, lambda: spaces.get("nasbench201", channels=0)),
    "strategy": (SearchError, lambda: RegularizedEvolution(spaces.get("nasbench201"), population=0)),
    "dataset": (DataError, lambda: wiring.load_dataset("no_such_dataset")),
    "train": (TrainError, lambda: wiring.train(_invalid_graph(), None, epochs=0, progress=False)),
}


@pytest.mark.parametrize("where", list(FAILURES))
def test_one_real_failure_of_each_package_is_caught_as_a_wiring_error(where):
    error, fail = FAILURES[where]
    try:
        fail()
    except WiringError as caught:
        assert type(caught) is error, f"{where}: raised {type(caught).__name__}: {caught}"
    else:
        pytest.fail(f"{where}: no error raised")
