import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))
# the groups import each other's helpers (e.g. test_notebooks.execute): on the path whichever file runs
sys.path[:0] = [ROOT, TESTS, os.path.join(ROOT, "tools")] + [os.path.join(TESTS, group) for group in
                                                            ("reference", "feedback", "grader", "notebooks")]
torch.set_num_threads(1)
