"""Black-box search: strategies behind one ask/tell interface, objectives, the runner.

The hyperparameter spaces (``HyperparameterSpace``, ``Float``, ``Int``, ``Categorical``, ``Joint``) live in
:mod:`spaces.hparams` and are re-exported here.
"""

from spaces.hparams import Categorical, Float, HyperparameterSpace, Int, Joint

from .evolution import ConstrainedEvolution, RegularizedEvolution
from .executors import InlineExecutor, ProcessPool, RayExecutor, make_executor
from .grid import GridSearch
from .model_based import BayesianOptimization, PredictorSearch
from .nsga2 import NSGA2
from .objectives import MnasNetReward, mnasnet_reward
from .pareto import crowding_distance, dominates, hypervolume, non_dominated_sort, pareto_front
from .proxies import ZeroCostEvaluator
from .reinforce import Reinforce
from .runner import SearchResult, Trial, load_result, run
from .strategy import RandomSearch, SearchError, Strategy

STRATEGIES = {cls.__name__: cls for cls in (RandomSearch, GridSearch, RegularizedEvolution, ConstrainedEvolution,
                                            Reinforce, BayesianOptimization, PredictorSearch, NSGA2)}
"""Every strategy by class name (the CLI's ``--strategy``)."""

__all__ = ["NSGA2", "STRATEGIES", "BayesianOptimization", "Categorical", "ConstrainedEvolution", "Float", "GridSearch",
           "HyperparameterSpace", "Int", "Joint", "MnasNetReward", "PredictorSearch", "RandomSearch", "Reinforce",
           "RegularizedEvolution", "SearchError", "Strategy", "ZeroCostEvaluator", "mnasnet_reward",
           # Pareto dominance
           "crowding_distance", "dominates", "hypervolume", "non_dominated_sort", "pareto_front",
           # the trial runner
           "InlineExecutor", "ProcessPool", "RayExecutor", "SearchResult", "Trial", "load_result", "make_executor",
           "run"]
