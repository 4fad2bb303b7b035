"""Running tools/*.py as subprocesses from the repo root, for the end-to-end tests."""
import os
import subprocess
import sys
from pathlib import Path
from typing import List

REPO_ROOT = Path(__file__).resolve().parents[1]
# One thread per tool process: on a small shared machine, OpenMP threads that wait for
# busy cores make each convolution ~50x slower.
TOOL_ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}


def run_tool(script: str, *args) -> subprocess.CompletedProcess:
    """``python tools/<script> args`` from the repo root."""
    return subprocess.run([sys.executable, f'tools/{script}', *map(str, args)], cwd=REPO_ROOT,
                          env=TOOL_ENV, capture_output=True, text=True, timeout=600)


def newest_log(work_dir: Path) -> str:
    """Text of the log of the latest run in ``work_dir``."""
    run_dir = max(p for p in work_dir.iterdir() if p.is_dir())
    return (run_dir / f'{run_dir.name}.log').read_text()


def tiny_shapes_options(data_root: Path, loaders=('train_dataloader', 'val_dataloader',
                                                    'test_dataloader')) -> List[str]:
    """``--cfg-options`` that point a shapes config at a tiny generated set in ``data_root``."""
    generator = dict(num_train=4, num_val=2, img_size=96, seed=0)
    opts = []
    for loader in loaders:
        opts.append(f'{loader}.dataset.data_root={data_root}')
        opts += [f'{loader}.dataset.generator.{key}={value}' for key, value in generator.items()]
    return opts
