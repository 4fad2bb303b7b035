"""Training checkpoints: written atomically, found robustly by ``--resume``, and read with
torch's safe unpickler into a model they must fit."""
from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import re
from typing import Optional

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint

from emo_mm.models.checkpoint import (CheckpointMismatchError, check_state_dict,
                                      is_official_layout)
from emo_mm.utils.safe_load import safe_torch_load

#: Files in a work_dir that are checkpoints (not the partial files of a save in progress).
CHECKPOINT_PATTERN = '*.pth'
_PARTIAL_SUFFIX = '.partial'


def is_local_path(path: str, backend_args: Optional[dict] = None) -> bool:
    """``path`` is on the local file system (not ``s3://``, ``http://``, a petrel backend...)."""
    backend = (backend_args or {}).get('backend')
    return '://' not in str(path) and backend in (None, 'local')


def partial_name(filename: str) -> str:
    """Name under which ``filename`` is written before it is moved into place."""
    return f'.{filename}{_PARTIAL_SUFFIX}'


def _fsync_dir(path: str) -> None:
    fd = os.open(path or '.', os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_into_place(src: str, dst: str) -> None:
    """Flush ``src`` to disk, rename it to ``dst`` (atomic on POSIX) and flush the folder:
    a reader sees the old ``dst`` or the complete new one, never part of it."""
    with open(src, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(src, dst)
    _fsync_dir(osp.dirname(dst))


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a partial file and a rename."""
    tmp = osp.join(osp.dirname(path), partial_name(osp.basename(path)))
    with open(tmp, 'w') as f:
        f.write(text)
    move_into_place(tmp, path)


def write_last_checkpoint(work_dir: str, checkpoint_path: str) -> None:
    """Point mmengine's ``<work_dir>/last_checkpoint`` (read by ``--resume``) at a file."""
    write_text_atomically(osp.join(work_dir, 'last_checkpoint'), checkpoint_path)


def remove_partial_files(folder: str) -> list[str]:
    """Delete what interrupted saves left in ``folder``; return the removed paths."""
    removed = []
    for path in glob.glob(osp.join(folder, f'.*{_PARTIAL_SUFFIX}')):
        os.remove(path)
        removed.append(path)
    return removed


def _step_of(path: str) -> int:
    match = re.search(r'(\d+)\.pth$', path)
    return int(match.group(1)) if match else -1


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``--resume`` continues from: the one ``last_checkpoint`` names, or,
    when that file is missing, empty or names a file that is gone, the newest checkpoint
    in ``work_dir``; None when there is none."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = ''
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and ('://' in named or osp.isfile(named)):
            return named
    found = sorted(glob.glob(osp.join(work_dir, CHECKPOINT_PATTERN)),
                   key=lambda p: (osp.getmtime(p), _step_of(p)))
    if not found:
        return None
    reason = f'names {named}, which does not exist' if named else 'is missing or empty'
    print_log(f'{pointer} {reason}; resuming from the newest checkpoint, {found[-1]}',
              logger='current', level=logging.WARNING)
    return found[-1]


def read_checkpoint_file(filename: str, map_location: object = 'cpu') -> dict:
    """Read a training checkpoint; local files through torch's safe unpickler
    (:class:`~emo_mm.utils.safe_load.CheckpointReadError` when corrupt or unsafe)."""
    if is_local_path(filename):
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint not found: {filename}')
        checkpoint = safe_torch_load(filename)
    else:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f"checkpoint '{filename}' holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint


def revised_state_dict(checkpoint: dict, revise_keys: list) -> dict:
    """The checkpoint's state dict with mmengine's ``revise_keys`` applied."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    for pattern, replacement in revise_keys:
        state_dict = {re.sub(pattern, replacement, key): value
                      for key, value in state_dict.items()}
    return state_dict


def check_checkpoint_fits(model, checkpoint: dict, filename: str, strict: bool,
                          revise_keys: list) -> None:
    """Raise :class:`~emo_mm.models.checkpoint.CheckpointMismatchError` when the checkpoint
    does not fit ``model``: any missing, unexpected or mis-shaped key when ``strict``,
    else when it shares no parameter of the right shape with the model at all (a
    fine-tuning ``load_from`` may differ in its heads, not in everything).

    Official EMOv2 classification layouts are left to the model's own load hooks.
    """
    state_dict = revised_state_dict(checkpoint, revise_keys)
    tensors = {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if is_official_layout(tensors):
        return
    source = f"checkpoint '{filename}'"
    if strict:
        check_state_dict(model, tensors, source=source)
        return
    own = model.state_dict()
    if not any(k in own and own[k].shape == v.shape for k, v in tensors.items()):
        raise CheckpointMismatchError(
            f'{source} shares no parameter with {type(model).__name__}: it is the checkpoint '
            f'of another model (first keys: {", ".join(list(tensors)[:3])})')
