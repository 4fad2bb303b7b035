"""Training checkpoint files: written atomically and found robustly by ``--resume`` (reading
them is :mod:`emo_mm.checkpoint`'s job)."""
from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import re
from typing import Optional

from mmengine.logging import print_log

#: Files in a work_dir that are checkpoints (not the partial files of a save in progress).
CHECKPOINT_PATTERN = '*.pth'
_PARTIAL_SUFFIX = '.partial'


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
