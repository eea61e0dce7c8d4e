"""Hypothesis profiles for the whole suite ("ci" when $CI is set, else $HYPOTHESIS_PROFILE, else "dev").

One torch thread: the suite runs many tiny tensors, for which thread start-up
and contention cost far more than they save (on a busy 2-core machine each
small conv took ~30 ms with 2 threads, ~0.2 ms with 1).
"""

import torch

from wiring import testing

testing.load_profile()
torch.set_num_threads(1)
