#!/usr/bin/env python
"""Convert an official EMOv2 checkpoint for emo_mm.

    python tools/model_converters/emov2_official.py EMOv2_5M_224.pth \
        checkpoints/emov2_5m_backbone.pth --task backbone

``--task backbone``: keys of the ``EMOv2`` backbone (for detection / segmentation
``init_cfg``); ``--task cls``: keys of the mmpretrain ``ImageClassifier``
(``backbone.*`` with the final norm, ``head.fc.*``). The input may be a flat state dict,
an official trainer checkpoint (``{'net', 'net_E'}``; ``--ema`` picks ``net_E``) or
DDP-prefixed. The result is checked strictly against the model before it is written.
"""
import argparse
import os
import sys

import torch

from emo_mm.checkpoint import (CheckpointMismatchError, check_state_dict, convert_official,
                               is_official_layout, read_checkpoint)
from emo_mm.models import EMOv2, guess_arch


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--task', choices=('backbone', 'cls'), default='backbone')
    parser.add_argument('--arch', help='arch name (default: inferred from the shapes)')
    parser.add_argument('--ema', action='store_true', help="take the EMA weights ('net_E')")
    return parser.parse_args(argv)


def convert(src: str, task: str, arch: str = None, ema: bool = False) -> tuple:
    """Return ``(state_dict, arch)`` for ``task``, strictly checked."""
    state_dict = read_checkpoint(src, ema=ema)
    if not is_official_layout(state_dict):
        raise CheckpointMismatchError(f"'{src}' is not in the official EMOv2 layout (no 'stage0.*' keys)")
    arch = arch or guess_arch(state_dict)
    if arch is None:
        raise CheckpointMismatchError(f"'{src}' matches no arch in the EMOv2 table; pass --arch")
    if task == 'backbone':
        converted = convert_official(state_dict, 'backbone')
        check_state_dict(EMOv2(arch), converted, source=f"'{src}'")
    else:
        converted = convert_official(state_dict, 'classifier')
        if 'head.fc.weight' not in converted:
            raise CheckpointMismatchError(f"'{src}' has no classifier head ('head.weight'); use --task backbone")
        backbone = {k[len('backbone.'):]: v for k, v in converted.items() if k.startswith('backbone.')}
        check_state_dict(EMOv2(arch, final_norm=True), backbone, source=f"'{src}'")
    return converted, arch


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        state_dict, arch = convert(args.src, args.task, args.arch, args.ema)
    except (FileNotFoundError, RuntimeError, CheckpointMismatchError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    tmp = args.dst + '.tmp'
    torch.save({'state_dict': state_dict,
                'meta': {'source': os.path.basename(args.src), 'task': args.task, 'arch': arch}}, tmp)
    os.replace(tmp, args.dst)
    print(f'{args.src} -> {args.dst}: {len(state_dict)} tensors, arch {arch}, task {args.task}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
