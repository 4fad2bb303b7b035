"""Side-by-side timing: calls of several functions interleaved, so that host drift (other
processes, frequency changes) lands on all of them alike and their ratios stay fair."""
import statistics
import time
from typing import Callable, Dict, List

import torch


def synchronize(device: str) -> None:
    """Wait for queued GPU work (a no-op on the CPU)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def time_round_robin(fns: Dict[str, Callable[[], object]], runs: int, warmup: int,
                     device: str = 'cpu') -> Dict[str, float]:
    """Median seconds per call of each function, calls interleaved across functions."""
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for i in range(warmup + runs):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
