"""Builds and loads emo_mm's C kernels (``csrc/*.c``, plain C with OpenMP, no torch headers).

The library is compiled once per source and compiler with the system C compiler (``cc``, or
``$CC``; about a second) into ``${EMO_MM_CACHE:-~/.cache/emo_mm}/kernels/`` and loaded with
ctypes. GCC's ``target_clones`` picks AVX-512, AVX2 or plain x86-64 code when it is loaded,
so a cached library also runs on another CPU. Where no compiler works, or with
``EMO_MM_NATIVE_KERNELS=0``, PyTorch's kernels run instead (logged once).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Optional

from mmengine.logging import print_log

SOURCE = Path(__file__).with_name('csrc') / 'depthwise_conv.c'
FLAGS = ('-O3', '-fPIC', '-shared', '-fopenmp', '-fno-strict-aliasing')
DISABLE_ENV = 'EMO_MM_NATIVE_KERNELS'


class NativeKernelError(RuntimeError):
    """A native kernel could not be built or reported a failure."""


_lock = threading.Lock()
_library: Optional[ctypes.CDLL] = None
_failure: Optional[str] = None


def cache_dir() -> Path:
    return Path(os.environ.get('EMO_MM_CACHE', Path.home() / '.cache' / 'emo_mm')) / 'kernels'


def _compiler() -> str:
    cc = os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc')
    if not cc:
        raise NativeKernelError('no C compiler found (install gcc, or set CC)')
    return cc


def build(verbose: bool = False) -> Path:
    """Compile the kernels (if this source and compiler have no cached build) and return the
    library's path. Safe to call from several processes at once."""
    cc = _compiler()
    version = subprocess.run([cc, '--version'], capture_output=True, text=True).stdout
    key = hashlib.sha256(SOURCE.read_bytes() + ' '.join(FLAGS).encode() + version.encode())
    out = cache_dir() / f'emo_mm_kernels_{key.hexdigest()[:16]}.so'
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        partial = Path(tmp) / out.name
        cmd = [cc, *FLAGS, str(SOURCE), '-o', str(partial)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise NativeKernelError(f'{" ".join(cmd)} failed:\n{done.stderr.strip()}')
        os.replace(partial, out)     # atomic: another process sees the whole file or none
    if verbose:
        print(f'built {out}')
    return out


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(build()))
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    for name in ('emo_depthwise_wgrad_f32', 'emo_depthwise_wgrad_f64'):
        fn = getattr(lib, name)
        fn.argtypes = [ptr, ptr, ptr] + [i64] * 12 + [ctypes.c_int]
        fn.restype = ctypes.c_int
    return lib


def library() -> Optional[ctypes.CDLL]:
    """The loaded kernels, or None where they are switched off or cannot be built (the
    reason is logged once)."""
    global _library, _failure
    if _library is not None or _failure is not None:
        return _library
    with _lock:
        if _library is None and _failure is None:
            if os.environ.get(DISABLE_ENV, '1') == '0':
                _failure = f'{DISABLE_ENV}=0'
            else:
                try:
                    _library = _load()
                except (NativeKernelError, OSError) as err:
                    _failure = str(err)
            if _failure is not None:
                print_log(f'emo_mm native CPU kernels are off ({_failure}); PyTorch\'s kernels '
                          'run instead (the same results, slower depthwise training)',
                          'current', level=30)
    return _library


def native_kernels_available() -> bool:
    """Whether emo_mm's C kernels are built and loaded."""
    return library() is not None
