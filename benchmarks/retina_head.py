"""RetinaNet's training targets and losses computed image by image and level by level (mmdet's
``RetinaHead.loss_by_feat``) against ``BatchedRetinaHead``'s one pass for the batch, side by
side in one process: the whole training step and the head's ``loss_by_feat``, on real batches
of the config's train loader, the two setups alternating step by step on the same batches.

Usage: python benchmarks/retina_head.py [CONFIG] [--amp] [--steps 40] [--threads 2]
"""
import copy
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.optim import build_optim_wrapper  # noqa: E402

from benchmarks.side_by_side import alternate, load_runner, median_ms, parser, timed  # noqa: E402
from emo_mm.det import BatchedRetinaHead  # noqa: E402


def main() -> None:
    args = parser(__doc__).parse_args()
    runner, cfg, batches = load_runner(args)
    head = runner.model.bbox_head
    if not isinstance(head, BatchedRetinaHead):
        sys.exit(f'{args.config}: its bbox_head is not a BatchedRetinaHead')
    if head.per_image_reason is not None:
        sys.exit(f'{args.config}: BatchedRetinaHead takes the per-image path '
                 f'({head.per_image_reason})')
    setups, loss_times = {}, {}
    for name in ('per-image', 'batched'):
        model = copy.deepcopy(runner.model).train()
        if name == 'per-image':    # mmdet's RetinaHead.loss_by_feat
            model.bbox_head.per_image_reason = 'benchmark'
        model.bbox_head.loss_by_feat = timed(model.bbox_head.loss_by_feat,
                                             loss_times.setdefault(name, []))
        setups[name] = model, build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    step_times = alternate(setups, batches)

    print(f'{args.config}, {torch.get_num_threads()} threads, amp={args.amp}, median of '
          f'{args.steps} alternating steps')
    for name in setups:
        print(f'  {name:9s} train step {median_ms(step_times[name], args.steps):7.1f} ms, of '
              f'which loss_by_feat (targets + losses, forward) '
              f'{median_ms(loss_times[name], args.steps):6.2f} ms')
    ratio = (median_ms(step_times['per-image'], args.steps)
             / median_ms(step_times['batched'], args.steps))
    print(f'  train step: batched targets {ratio:.3f}x the per-image ones')


if __name__ == '__main__':
    main()
