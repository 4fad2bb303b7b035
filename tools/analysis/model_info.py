#!/usr/bin/env python
"""Build an EMOv2 backbone, run it once and print its outputs, parameters and FLOPs.

    python tools/analysis/model_info.py 5m --shape 224 --window-size 7
"""
import argparse
import time

import torch

from emo_mm.analysis import count_flops, count_params
from emo_mm.models import ARCH_SETTINGS, EMOv2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('arch', nargs='?', default='5m', choices=sorted(ARCH_SETTINGS))
    parser.add_argument('--shape', type=int, nargs='+', default=[224], help='input H [W]')
    parser.add_argument('--window-size', type=int, default=7)
    parser.add_argument('--num-classes', type=int, default=1000,
                        help='classifier head size for the whole-classifier figures')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    h, w = (args.shape * 2)[:2]
    model = EMOv2(args.arch, window_size=args.window_size, out_indices=(0, 1, 2, 3, 4)).eval()
    classifier = torch.nn.Sequential(
        EMOv2(args.arch, window_size=args.window_size, final_norm=True),
        _PoolLinear(model.embed_dims[-1], args.num_classes)).eval()
    x = torch.randn(1, 3, h, w)
    start = time.perf_counter()
    with torch.no_grad():
        outs = model(x)
    elapsed = time.perf_counter() - start
    print(f'EMOv2-{args.arch}, window {args.window_size}, input 1x3x{h}x{w}')
    for index, out in enumerate(outs):
        print(f'  out[{index}] stride {2 ** (index + 1):>2}: {tuple(out.shape)}')
    print(f'  backbone parameters:   {count_params(model):,}')
    print(f'  classifier parameters: {count_params(classifier):,} ({args.num_classes} classes)')
    print(f'  classifier FLOPs:      {count_flops(classifier, (1, 3, h, w)) / 1e6:.1f} M (1 MAC = 1 FLOP)')
    print(f'  backbone forward:      {elapsed * 1000:.1f} ms (first call, CPU)')


class _PoolLinear(torch.nn.Module):
    """Global mean pool + linear head on the backbone's last output."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(in_channels, num_classes)

    def forward(self, feats):
        return self.fc(feats[-1].mean((2, 3)))


if __name__ == '__main__':
    main()
