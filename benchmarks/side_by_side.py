"""What the side-by-side training-step benchmarks share: a config's runner and real batches of its
train loader, setups that alternate step by step on the same batches, and timed calls."""
import argparse
import itertools
import statistics
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import torch

from emo_mm.cli.common import build_runner, load_config
from emo_mm.cli.train import prepare_train_config

DEFAULT_CONFIG = 'configs/det/demo/retinanet_emov2_1m_shapes.py'
#: Steps of every setup run first and not counted.
WARMUP = 5


def parser(doc: str) -> argparse.ArgumentParser:
    """The scripts' common options: CONFIG, --amp, --steps, --threads."""
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--steps', type=int, default=40)
    parser.add_argument('--threads', type=int, default=2)
    return parser


def load_runner(args: argparse.Namespace):
    """(runner, config, batches): the config prepared as ``tools/train.py`` prepares it, its model's
    weights initialised, and ``WARMUP + args.steps`` batches of its train loader."""
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work_dir:
        cfg, spec = load_config(args.config, None, 'none', work_dir)
        prepare_train_config(cfg, amp=args.amp, auto_scale_lr=False, resume=None)
        cfg.log_level = 'WARNING'
        runner = build_runner(cfg, spec)
        runner.model.init_weights()
        batches = list(itertools.islice(itertools.cycle(runner.train_dataloader),
                                        WARMUP + args.steps))
    return runner, cfg, batches


def alternate(setups: Dict[str, Tuple[torch.nn.Module, object]],
              batches: list) -> Dict[str, List[float]]:
    """Run ``model.train_step(batch, wrapper)`` of every setup on each batch, the order reversed
    every other batch; the seconds of each step, per setup (warm-up steps included)."""
    times = {name: [] for name in setups}
    for i, batch in enumerate(batches):
        for name in sorted(setups, reverse=bool(i % 2)):
            model, wrapper = setups[name]
            start = time.perf_counter()
            model.train_step(batch, wrapper)
            times[name].append(time.perf_counter() - start)
    return times


def timed(fn: Callable, times: List[float]) -> Callable:
    """``fn``, appending the seconds of each call to ``times``."""
    def wrapped(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
        return out
    return wrapped


def median_ms(times: List[float], steps: int) -> float:
    """Median in ms of the last ``steps`` timings (those after the warm-up)."""
    return 1000 * statistics.median(times[-steps:])
