"""Run under torchrun by the distributed tests: a single-process one-shot strategy refuses a world of 2."""

import spaces.nasbench201 as nb201
from wiring.data import load_dataset
from wiring.search.oneshot import SPOS
from wiring.search.strategy import SearchError

try:
    SPOS(nb201.space(channels=4, cells_per_stage=1, image_size=8), epochs=1, batch_size=8,
         progress=False).search(load_dataset(limit=100))
except SearchError as error:
    print(error)
