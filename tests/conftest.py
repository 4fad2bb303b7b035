"""Test set-up: the tests' helpers (tests/helpers.py) and the plain formulations
(benchmarks/) importable, two threads, a fixed seed, and the small shapes set."""
import os
import sys
from pathlib import Path

import pytest
import torch

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
sys.path.insert(1, str(REPO_ROOT))   # benchmarks/ (the plain formulation) sits at the root

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def small_shapes_root(tmp_path_factory) -> Path:
    """The shapes data of ``tooling.SMALL_SHAPES`` (35 training crops), generated once."""
    from emo_mm.datasets import ensure_shapes
    from helpers import SMALL_SHAPES
    return ensure_shapes(tmp_path_factory.mktemp('small_shapes'), **SMALL_SHAPES)
