"""The on-disk shapes dataset: generated once per set of arguments into a temporary folder and
renamed into place (``meta.json`` last), reused while its arguments and generator version
match, replaced otherwise."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Union

from .render import SHAPES_CLASSES, SizeLike, as_size
from .writers import GENERATOR_VERSION, SPLITS, write_json, write_split

#: Recorded in meta.json (the generator's historical module name; changing it regenerates data).
GENERATOR_NAME = 'emo_mm.datasets.shapes'
PathLike = Union[str, Path]


_DATASET_ENTRIES = {'train', 'val', 'annotations', 'meta.json'}


def _normalised_args(num_train: int, num_val: int, img_size: SizeLike,
                     seed: int) -> dict[str, Any]:
    """Validated generator arguments, as recorded in meta.json."""
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0')
    if seed < 0:
        raise ValueError('seed must be >= 0')
    return {'num_train': int(num_train), 'num_val': int(num_val),
            'img_size': list(as_size(img_size)), 'seed': int(seed)}


def read_meta(out_dir: Path) -> dict[str, Any] | None:
    """Parsed meta.json, or None if absent/unreadable."""
    try:
        return json.loads((out_dir / 'meta.json').read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _is_complete(out_dir: Path, args: dict[str, Any]) -> bool:
    """True if ``out_dir`` holds a finished dataset generated with ``args``."""
    meta = read_meta(out_dir)
    if not meta or meta.get('generator') != GENERATOR_NAME or \
            meta.get('version') != GENERATOR_VERSION or meta.get('args') != args:
        return False
    for split, count in (('train', args['num_train']), ('val', args['num_val'])):
        for sub in ('images', 'semantic'):
            folder = out_dir / split / sub
            if not folder.is_dir() or sum(1 for _ in folder.glob('*.png')) != count:
                return False
        for ann in (f'instances_{split}.json', f'crops_{split}.txt'):
            if not (out_dir / 'annotations' / ann).is_file():
                return False
    return True


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to delete a directory that does not look like a shapes dataset."""
    unknown = sorted(p.name for p in out_dir.iterdir() if p.name not in _DATASET_ENTRIES)
    if unknown:
        raise FileExistsError(f'{out_dir} does not look like a shapes dataset (found '
                              f'{unknown[:5]}); refusing to overwrite it')


def _install(tmp_dir: Path, out_dir: Path) -> None:
    """Move the finished ``tmp_dir`` to ``out_dir``, replacing it if present."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.old-', dir=out_dir.parent))
        os.replace(out_dir, old / 'data')
    os.replace(tmp_dir, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def generate_shapes(out_dir: PathLike, num_train: int = 320, num_val: int = 80,
                    img_size: SizeLike = 256, seed: int = 0, overwrite: bool = False) -> Path:
    """Generate the shapes dataset into ``out_dir`` and return its path.

    Args:
        out_dir: Destination directory (created; must be absent or empty unless
            ``overwrite``).
        num_train: Number of train images.
        num_val: Number of val images.
        img_size: Image size, an int or ``(width, height)``.
        seed: Non-negative seed; same arguments give byte-identical files.
        overwrite: Replace an existing dataset directory.

    The dataset is written to a temporary sibling directory (``meta.json`` last)
    and renamed into place, so an interrupted run never leaves a complete-looking
    partial dataset.
    """
    out_dir = Path(out_dir)
    args = _normalised_args(num_train, num_val, img_size, seed)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f'{out_dir} exists; use overwrite=True (CLI: --overwrite) '
                                  'to replace it')
        _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.partial-', dir=out_dir.parent))
    try:
        (tmp_dir / 'annotations').mkdir()
        splits = {split: write_split(tmp_dir, split, args[f'num_{split}'],
                                         tuple(args['img_size']), seed) for split in SPLITS}
        meta = {'generator': GENERATOR_NAME, 'version': GENERATOR_VERSION, 'args': args,
                'classes': list(SHAPES_CLASSES), 'splits': splits}
        write_json(tmp_dir / 'meta.json', meta, indent=2)
        _install(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return out_dir


def ensure_shapes(out_dir: PathLike, *, num_train: int = 320, num_val: int = 80,
                  img_size: SizeLike = 256, seed: int = 0) -> Path:
    """Return ``out_dir``, (re)generating it unless it already holds this exact dataset.

    A dataset counts as complete when ``meta.json`` (written last) records the
    current generator version and the same arguments, and the expected files exist.
    Not safe to call from several processes at once: call it before launching
    distributed jobs.
    """
    out_dir = Path(out_dir)
    if _is_complete(out_dir, _normalised_args(num_train, num_val, img_size, seed)):
        return out_dir
    return generate_shapes(out_dir, num_train=num_train, num_val=num_val, img_size=img_size,
                           seed=seed, overwrite=True)
