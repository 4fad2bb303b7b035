import os
import sys
from pathlib import Path

import pytest
import torch

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR))
sys.path.insert(1, str(REPO_ROOT))   # benchmarks/ (the plain formulation) sits at the root

# The shared spec folder sits beside the checkout (../shared/docs/keys); a copy of the
# official key lists is kept in tests/data/keys so the tests run anywhere.
KEYS_DIR = TESTS_DIR / 'data' / 'keys'

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def read_official_keys(name: str):
    """[(key, shape tuple)] from an official key list (key<TAB>[shape]<TAB>dtype)."""
    rows = []
    for line in (KEYS_DIR / f'keys_{name}.txt').read_text().splitlines():
        key, shape, _ = line.split('\t')
        dims = shape.strip('[]')
        rows.append((key, tuple(int(d) for d in dims.split(',')) if dims else ()))
    return rows


@pytest.fixture(scope='session')
def small_shapes_root(tmp_path_factory) -> Path:
    """The shapes data of ``tooling.SMALL_SHAPES`` (35 training crops), generated once."""
    from emo_mm.datasets import ensure_shapes
    from tooling import SMALL_SHAPES
    return ensure_shapes(tmp_path_factory.mktemp('small_shapes'), **SMALL_SHAPES)
