"""Keep the memory of freed tensors in the process instead of handing it back to the kernel.

glibc's malloc serves large blocks with fresh ``mmap`` pages and gives freed memory back to
the kernel, so on a CPU every training step page-faults and zero-fills its activations anew:
about 9,000-20,000 page faults and 25-50 ms of kernel time per step of the RetinaNet demo.
:func:`tune_cpu_allocator` sets glibc's ``mallopt`` so that large blocks come from the heap
and the heap is never trimmed: pages are faulted in once and reused by later steps. The
process keeps its peak memory instead of returning it between steps; nothing else changes
(same tensors, same math).

emo_mm's tools call it on start. It does nothing where another allocator is preloaded
(jemalloc, tcmalloc, mimalloc), where the user set glibc's malloc tunables themselves
(``MALLOC_*_`` or ``GLIBC_TUNABLES``), off glibc, or with ``EMO_MM_CPU_ALLOCATOR=default``.
The same settings for any other program: ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<bytes>``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from typing import Optional

#: Environment switch: ``default`` leaves glibc's malloc as it is.
ENV_SWITCH = 'EMO_MM_CPU_ALLOCATOR'

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
#: Free memory at the top of the heap kept rather than trimmed: all of it (the int maximum).
_NEVER_TRIM = 2 ** 31 - 1
#: Extra heap requested whenever it grows, so that it grows rarely.
_TOP_PAD = 64 << 20
_OTHER_ALLOCATORS = ('jemalloc', 'tcmalloc', 'mimalloc')

_state: Optional[str] = None


def _reason_to_skip() -> Optional[str]:
    if os.environ.get(ENV_SWITCH, '').lower() == 'default':
        return f'{ENV_SWITCH}=default'
    preload = os.environ.get('LD_PRELOAD', '')
    for name in _OTHER_ALLOCATORS:
        if name in preload:
            return f'{name} is preloaded'
    if any(key.startswith('MALLOC_') and key.endswith('_') for key in os.environ) or \
            'glibc.malloc' in os.environ.get('GLIBC_TUNABLES', ''):
        return "glibc's malloc tunables are set in the environment"
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return 'not glibc'
    return None


def tune_cpu_allocator() -> str:
    """Make glibc keep freed memory for reuse (see the module docstring); once per process.

    Returns what was done: ``'kept freed memory'``, or ``'default: <why>'`` where the
    allocator was left alone."""
    global _state
    if _state is not None:
        return _state
    reason = _reason_to_skip()
    if reason is None:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        done = all(libc.mallopt(param, value) == 1 for param, value in (
            (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _NEVER_TRIM), (_M_TOP_PAD, _TOP_PAD)))
        reason = None if done else 'mallopt refused the settings'
    _state = 'kept freed memory' if reason is None else f'default: {reason}'
    return _state
