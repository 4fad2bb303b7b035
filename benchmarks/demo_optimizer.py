"""A CPU demo's training step with its optimizer built two ways, side by side in one process:
mmengine's default constructor (one param group per parameter) with AdamW's multi-tensor update,
and the demos' schedule (``MergedGroupsOptimWrapperConstructor``, fused AdamW). Real batches of
the config's train loader; the two setups alternate step by step on the same batches.

Usage: python benchmarks/demo_optimizer.py [CONFIG] [--amp] [--steps 40] [--threads 2]
"""
import copy
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.optim import build_optim_wrapper  # noqa: E402

from benchmarks.side_by_side import alternate, load_runner, median_ms, parser, timed  # noqa: E402


def main() -> None:
    args = parser(__doc__).parse_args()
    runner, cfg, batches = load_runner(args)
    default_cfg = copy.deepcopy(cfg.optim_wrapper)
    default_cfg.constructor = 'DefaultOptimWrapperConstructor'
    default_cfg.optimizer.update(fused=None, foreach=True)
    setups, update_times = {}, {}
    for name, wrapper_cfg in (('default', default_cfg), ('demo', cfg.optim_wrapper)):
        model = copy.deepcopy(runner.model).train()
        wrapper = build_optim_wrapper(model, copy.deepcopy(wrapper_cfg))
        wrapper.step = timed(wrapper.step, update_times.setdefault(name, []))
        setups[name] = model, wrapper
    step_times = alternate(setups, batches)

    print(f'{args.config}, {torch.get_num_threads()} threads, amp={args.amp}, median of '
          f'{args.steps} alternating steps')
    for name, (_, wrapper) in setups.items():
        print(f'  {name:8s} {len(wrapper.optimizer.param_groups):4d} param groups: train step '
              f'{median_ms(step_times[name], args.steps):7.1f} ms, of which OptimWrapper.step '
              f'(clip + update) {median_ms(update_times[name], args.steps):5.2f} ms')
    ratio = (median_ms(step_times['default'], args.steps)
             / median_ms(step_times['demo'], args.steps))
    print(f'  train step: demo schedule {ratio:.3f}x the default constructor')


if __name__ == '__main__':
    main()
