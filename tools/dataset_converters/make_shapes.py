#!/usr/bin/env python
"""Generate emo_mm's synthetic shapes dataset (the demos do it themselves on first use).

    python tools/dataset_converters/make_shapes.py --out data/shapes [--num-train N] [--num-val N]
        [--img-size S | W H] [--seed K] [--overwrite]
"""
import argparse
import os.path as osp
import sys
import time
from typing import Optional, Sequence

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.datasets.shapes import SHAPES_CLASSES, generate_shapes, read_meta  # noqa: E402


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description='Generate the synthetic shapes dataset.')
    parser.add_argument('--out', required=True, help='output directory, e.g. data/shapes')
    parser.add_argument('--num-train', type=int, default=320)
    parser.add_argument('--num-val', type=int, default=80)
    parser.add_argument('--img-size', type=int, nargs='+', default=[256],
                        help='S, or W H')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing dataset at --out')
    opts = parser.parse_args(argv)
    if len(opts.img_size) not in (1, 2):
        parser.error('--img-size takes S or W H')
    size = opts.img_size[0] if len(opts.img_size) == 1 else tuple(opts.img_size)
    start = time.perf_counter()
    try:
        out_dir = generate_shapes(opts.out, opts.num_train, opts.num_val, size, opts.seed,
                                  opts.overwrite)
    except (FileExistsError, ValueError) as err:
        parser.exit(1, f'error: {err}\n')
    meta = read_meta(out_dir) or {}
    print(f'wrote {out_dir} in {time.perf_counter() - start:.1f}s '
          f'(img_size {meta["args"]["img_size"]}, seed {opts.seed})')
    for split, info in meta['splits'].items():
        classes = ', '.join(f'{c} {info["per_class"][c]}' for c in SHAPES_CLASSES)
        print(f'  {split}: {info["images"]} images, {info["instances"]} instances ({classes}), '
              f'{info["crops"]} crops')
        print(f'    {out_dir / split / "images"}, {out_dir / split / "semantic"}, '
              f'{out_dir / split / "crops"}')
        print(f'    {out_dir / "annotations" / f"instances_{split}.json"}, '
              f'{out_dir / "annotations" / f"crops_{split}.txt"}')


if __name__ == '__main__':
    main()
