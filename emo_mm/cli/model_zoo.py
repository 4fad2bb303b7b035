"""``tools/analysis/model_zoo.py``: write docs/model_zoo.md from the model index, or check
that it is up to date."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from emo_mm.analysis.model_index import (ModelIndexError, load_collections, load_model_index,
                                         render_model_zoo)
from emo_mm.cli.common import ToolError, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='model_zoo.py', description='Write docs/model_zoo.md from model-index.yml.')
    parser.add_argument('--model-index', default='model-index.yml')
    parser.add_argument('--out', default='docs/model_zoo.md')
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 2 if --out differs from what would be written')
    return parser


def model_zoo_markdown(index: str = 'model-index.yml') -> str:
    """docs/model_zoo.md's text for ``index``."""
    try:
        return render_model_zoo(load_model_index(index), load_collections(index))
    except ModelIndexError as err:
        raise ToolError(str(err)) from err


def write_model_zoo(args: argparse.Namespace) -> None:
    text = model_zoo_markdown(args.model_index)
    if args.check:
        try:
            with open(args.out, encoding='utf-8') as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            raise ToolError(f'{args.out} is out of date with {args.model_index}; run '
                            'python tools/analysis/model_zoo.py')
        print(f'{args.out} is up to date')
        return
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    print(f'wrote {args.out}')


def model_zoo_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/analysis/model_zoo.py``."""
    return run_command(write_model_zoo, build_parser(), argv)
