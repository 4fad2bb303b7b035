"""A CPU demo's training step with its optimizer built two ways, side by side in one process:
mmengine's default constructor (one param group per parameter) with AdamW's multi-tensor update,
and the demos' schedule (``MergedGroupsOptimWrapperConstructor``, fused AdamW). Real batches of
the config's train loader; the two setups alternate step by step on the same batches.

Usage: python benchmarks/demo_optimizer.py [CONFIG] [--amp] [--steps 40] [--threads 2]
"""
import argparse
import copy
import itertools
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.optim import build_optim_wrapper  # noqa: E402

from emo_mm.cli.common import build_runner, load_config  # noqa: E402
from emo_mm.cli.train import prepare_train_config  # noqa: E402

DEFAULT_CONFIG = 'configs/det/demo/retinanet_emov2_1m_shapes.py'
WARMUP = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', nargs='?', default=DEFAULT_CONFIG)
    parser.add_argument('--amp', action='store_true')
    parser.add_argument('--steps', type=int, default=40)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work_dir:
        cfg, spec = load_config(args.config, None, 'none', work_dir)
        prepare_train_config(cfg, amp=args.amp, auto_scale_lr=False, resume=None)
        cfg.log_level = 'WARNING'
        runner = build_runner(cfg, spec)
        runner.model.init_weights()
        default_cfg = copy.deepcopy(cfg.optim_wrapper)
        default_cfg.constructor = 'DefaultOptimWrapperConstructor'
        default_cfg.optimizer.update(fused=None, foreach=True)
        setups, step_times, update_times = {}, {}, {}
        for name, wrapper_cfg in (('default', default_cfg), ('demo', cfg.optim_wrapper)):
            model = copy.deepcopy(runner.model).train()
            wrapper = build_optim_wrapper(model, copy.deepcopy(wrapper_cfg))
            wrapper.step = _timed(wrapper.step, update_times.setdefault(name, []))
            setups[name] = model, wrapper
            step_times[name] = []
        batches = list(itertools.islice(itertools.cycle(runner.train_dataloader),
                                        WARMUP + args.steps))
    for i, batch in enumerate(batches):
        for name in sorted(setups, reverse=bool(i % 2)):
            model, wrapper = setups[name]
            start = time.perf_counter()
            model.train_step(batch, wrapper)
            if i >= WARMUP:
                step_times[name].append(time.perf_counter() - start)

    def median_ms(times):
        return 1000 * statistics.median(times[WARMUP:] if len(times) > args.steps else times)

    print(f'{args.config}, {torch.get_num_threads()} threads, amp={args.amp}, median of '
          f'{args.steps} alternating steps')
    for name, (_, wrapper) in setups.items():
        print(f'  {name:8s} {len(wrapper.optimizer.param_groups):4d} param groups: train step '
              f'{median_ms(step_times[name]):7.1f} ms, of which OptimWrapper.step (clip + update) '
              f'{median_ms(update_times[name]):5.2f} ms')
    ratio = median_ms(step_times['default']) / median_ms(step_times['demo'])
    print(f'  train step: demo schedule {ratio:.3f}x the default constructor')


def _timed(fn, times):
    def wrapped(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
        return out
    return wrapped


if __name__ == '__main__':
    main()
