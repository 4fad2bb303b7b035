"""RetinaNet's training targets and losses computed image by image and level by level (mmdet's
``RetinaHead.loss_by_feat``) against ``BatchedRetinaHead``'s one pass for the batch, side by
side in one process: the whole training step and the head's ``loss_by_feat``, on real batches
of the config's train loader, the two setups alternating step by step on the same batches.

Usage: python benchmarks/retina_head.py [CONFIG] [--amp] [--steps 40] [--threads 2]
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
from emo_mm.det import BatchedRetinaHead  # noqa: E402

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
        if not isinstance(runner.model.bbox_head, BatchedRetinaHead):
            sys.exit(f'{args.config}: its bbox_head is not a BatchedRetinaHead')
        if runner.model.bbox_head.per_image_reason is not None:
            sys.exit(f'{args.config}: BatchedRetinaHead takes the per-image path '
                     f'({runner.model.bbox_head.per_image_reason})')
        runner.model.init_weights()
        setups, step_times, loss_times = {}, {}, {}
        for name in ('per-image', 'batched'):
            model = copy.deepcopy(runner.model).train()
            if name == 'per-image':    # mmdet's RetinaHead.loss_by_feat
                model.bbox_head.per_image_reason = 'benchmark'
            head = model.bbox_head
            head.loss_by_feat = _timed(head.loss_by_feat, loss_times.setdefault(name, []))
            setups[name] = model, build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
            step_times[name] = []
        batches = list(itertools.islice(itertools.cycle(runner.train_dataloader),
                                        WARMUP + args.steps))
    for i, batch in enumerate(batches):
        for name in sorted(setups, reverse=bool(i % 2)):
            model, wrapper = setups[name]
            start = time.perf_counter()
            model.train_step(batch, wrapper)
            step_times[name].append(time.perf_counter() - start)

    def median_ms(times):
        return 1000 * statistics.median(times[WARMUP:])

    print(f'{args.config}, {torch.get_num_threads()} threads, amp={args.amp}, median of '
          f'{args.steps} alternating steps')
    for name in setups:
        print(f'  {name:9s} train step {median_ms(step_times[name]):7.1f} ms, of which '
              f'loss_by_feat (targets + losses, forward) {median_ms(loss_times[name]):6.2f} ms')
    ratio = median_ms(step_times['per-image']) / median_ms(step_times['batched'])
    print(f'  train step: batched targets {ratio:.3f}x the per-image ones')


def _timed(fn, times):
    def wrapped(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
        return out
    return wrapped


if __name__ == '__main__':
    main()
