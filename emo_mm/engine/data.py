"""Data loading that resumes exactly and names the sample that fails.

Why mmengine's resume is not exact: augmentations draw from the random state of the data
loader workers, which depends on how many batches each worker has produced since it was
started (persistent workers keep it across epochs), and an epoch-based loop restarts a
half-done epoch from its first batch. Here every training sample gets its own seed, a
function of the run's seed, the rank, the pass over the data, and the sample's position
in it (:class:`ResumableBatchSampler`), and the dataset seeds Python's, NumPy's and torch's
generators with it before running the pipeline (:class:`ReproducibleDataset`). A sample's
augmentation then no longer depends on workers, prefetching or restarts, and a resumed
run can skip the batches already trained without loading them.
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import threading
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info


class SeededIndex(int):
    """A dataset index that carries the seed for its sample's augmentation.

    It is an ``int``, so samplers, batch samplers and datasets that index with it keep
    working; it survives pickling to data loader workers.
    """

    seed: int

    def __new__(cls, index: int, seed: int) -> 'SeededIndex':
        obj = super().__new__(cls, index)
        obj.seed = seed
        return obj

    def __reduce__(self):
        return type(self), (int(self), self.seed)


class SkippedIndex(int):
    """An index of a batch that a resumed iteration-based loop skips: the dataset returns
    an empty placeholder instead of loading and augmenting the sample."""

    def __reduce__(self):
        return type(self), (int(self), )


def sample_seed(*keys: int) -> int:
    """A 32-bit seed determined by ``keys`` (NumPy's SeedSequence: well mixed)."""
    return int(np.random.SeedSequence([k & 0xFFFFFFFF for k in keys]).generate_state(1)[0])


@contextlib.contextmanager
def seeded_random_state(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's global generators with ``seed``; in the main
    process (``num_workers=0``), put their previous states back afterwards, so the
    model's own random numbers do not depend on data loading."""
    in_main_process = get_worker_info() is None
    if in_main_process:
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        if in_main_process:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])


class ResumableBatchSampler:
    """Wraps a batch sampler: seeds every index (:class:`SeededIndex`) and, after a resume,
    skips the batches the interrupted run had trained.

    Args:
        batch_sampler: the batch sampler of the config (``BatchSampler`` over the config's
            sampler, or e.g. mmdet's ``AspectRatioBatchSampler``).
        seed: the run's seed; :meth:`set_seed` updates it when a resume restores another.
        rank: this process's rank, so that ranks augment differently.
    """

    def __init__(self, batch_sampler: Any, seed: Optional[int], rank: int = 0) -> None:
        self.batch_sampler = batch_sampler
        self.seed = 0 if seed is None else int(seed)
        self.rank = rank
        self._pass = 0            # passes over the data started so far (the epoch)
        self._drop = 0            # batches to drop at the start of the next pass
        self._yielded = 0         # batches yielded so far, over all passes
        self._placeholders_until = 0  # yield placeholders while _yielded is below this

    @property
    def sampler(self) -> Any:
        """The wrapped sampler (mmengine's ``DistSamplerSeedHook`` calls its ``set_epoch``)."""
        return self.batch_sampler.sampler

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def set_seed(self, seed: int) -> None:
        self.seed = int(seed)

    def resume_epoch(self, epoch: int, done_batches: int) -> None:
        """Epoch-based loops: the next pass is ``epoch``; drop its first ``done_batches``."""
        self._pass, self._drop = epoch, done_batches

    def resume_iterations(self, done_batches: int) -> None:
        """Iteration-based loops: mmengine's loop fetches (and discards) the first
        ``done_batches`` batches of the run before it trains; make those placeholders,
        which cost nothing to load (also those its iterator prefetched already)."""
        self._placeholders_until = done_batches

    def __iter__(self) -> Iterator[list]:
        epoch, drop = self._pass, self._drop
        self._pass, self._drop = epoch + 1, 0
        for position, batch in enumerate(self.batch_sampler):
            if position < drop:
                continue
            self._yielded += 1
            if self._yielded <= self._placeholders_until:
                yield [SkippedIndex(index) for index in batch]
                continue
            yield [SeededIndex(index, sample_seed(self.seed, self.rank, epoch, position, slot))
                   for slot, index in enumerate(batch)]


class DataSampleError(RuntimeError):
    """A dataset sample that cannot be loaded; the message names it and its files.

    Raised in a data loader worker, torch re-raises it in the main process as
    ``DataSampleError('Caught DataSampleError in DataLoader worker ... Original
    Traceback ...')``; the constructor keeps only our own last line of that text.
    """

    def __init__(self, message: str) -> None:
        marker = f'{type(self).__name__}: '
        if message.startswith('Caught ') and marker in message:
            message = message.rsplit(marker, 1)[1].strip()
        super().__init__(message)


#: Keys of mmengine data infos that hold the files of a sample.
_FILE_KEYS = ('img_path', 'seg_map_path', 'filename')


def file_problem(path: str) -> Optional[str]:
    """Why the image file ``path`` cannot be used (missing, empty, undecodable), or None."""
    if not os.path.exists(path):
        return 'the file does not exist'
    if os.path.getsize(path) == 0:
        return 'the file is empty'
    from PIL import Image
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, ...
        return f'the image is truncated or corrupt ({err})'
    return None


class ReproducibleDataset:
    """Wraps a dataset: seeds the random state per sample (when the index is a
    :class:`SeededIndex`), returns placeholders for :class:`SkippedIndex`, and turns a
    failure into a :class:`DataSampleError` that names the sample and its broken file.

    Every other attribute (``metainfo``, ``pipeline``, ``get_data_info``, ...) is the
    wrapped dataset's, for reading and for writing.
    """

    def __init__(self, dataset: Any, split: str = 'train') -> None:
        object.__setattr__(self, 'dataset', dataset)
        object.__setattr__(self, 'split', split)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        if name in ('dataset', 'split') or name.startswith('__'):
            raise AttributeError(name)  # also keeps unpickling from recursing
        return getattr(self.dataset, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.dataset, name, value)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, SkippedIndex):
            return {}
        if isinstance(index, SeededIndex):
            with seeded_random_state(index.seed):
                return self._load(int(index))
        return self._load(index)

    def _load(self, index: Any) -> Any:
        try:
            return self.dataset[index]
        except DataSampleError:
            raise
        except Exception as err:
            raise DataSampleError(self.describe_failure(index, err)) from err

    def describe_failure(self, index: Any, err: Exception) -> str:
        """One line: which sample, which of its files is broken and why, what to do."""
        what = f'cannot load {self.split} sample {index}'
        try:
            info = self.dataset.get_data_info(index)
        except Exception:  # the index itself is bad, or the dataset has no data infos
            info = {}
        files = [(key, info[key]) for key in _FILE_KEYS if isinstance(info.get(key), str)]
        for key, path in files:
            problem = file_problem(path)
            if problem:
                return (f'{what}: {key} {path}: {problem}. Replace the file, or remove the '
                        'sample from the annotations.')
        named = ', '.join(f'{key}={path}' for key, path in files)
        error = str(err).strip().splitlines()[0] if str(err).strip() else ''
        return (f"{what}{' (' + named + ')' if named else ''}: {type(err).__name__}: {error}. "
                'Check this sample and the pipeline steps that read it.')


#: Signals that :class:`~emo_mm.engine.hooks.CheckpointOnSignalHook` handles in the main
#: process; Slurm sends them to every process of a job, data loader workers included.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class IgnoreStopSignals:
    """``worker_init_fn`` wrapper: a data loader worker ignores :data:`STOP_SIGNALS` unless
    they come from its own main process.

    Slurm signals every process of a job step. A worker that died of its SIGTERM would
    fail the training step in progress ("DataLoader worker is killed by signal:
    Terminated") before the main process could write its checkpoint. The signals are
    blocked in the worker and a thread takes them: from the main process (which stops its
    workers with SIGTERM when they do not exit in time) the worker exits, as torch's own
    handler does; from anyone else nothing happens.
    """

    def __init__(self, init_fn: Optional[Any] = None) -> None:
        self.init_fn = init_fn

    def __call__(self, worker_id: int) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # threads started later too
        threading.Thread(target=_exit_on_signal_from, args=(os.getppid(), ), daemon=True,
                         name='stop-signal-filter').start()
        if self.init_fn is not None:
            self.init_fn(worker_id)


def _exit_on_signal_from(parent: int) -> None:
    while True:
        info = signal.sigwaitinfo(STOP_SIGNALS)
        if info.si_pid == parent:
            os._exit(0)


#: DataLoader arguments that :func:`rebuild_dataloader` carries over unchanged.
_LOADER_ARGS = ('num_workers', 'collate_fn', 'pin_memory', 'timeout', 'worker_init_fn',
                'multiprocessing_context', 'generator', 'prefetch_factor',
                'persistent_workers', 'pin_memory_device', 'in_order')


def rebuild_dataloader(loader: DataLoader, split: str, resumable: bool,
                       seed: Optional[int] = None, rank: int = 0) -> DataLoader:
    """The same loader (workers, collate function, sampler, ...) over
    ``ReproducibleDataset(loader.dataset)``, with workers that leave stop signals to the
    main process (:class:`IgnoreStopSignals`); with ``resumable``, its batch sampler
    wrapped in :class:`ResumableBatchSampler`. No worker has started yet: this is cheap."""
    kwargs = {name: getattr(loader, name) for name in _LOADER_ARGS if hasattr(loader, name)}
    kwargs['worker_init_fn'] = IgnoreStopSignals(kwargs.get('worker_init_fn'))
    dataset = ReproducibleDataset(loader.dataset, split)
    if resumable:
        batch_sampler = ResumableBatchSampler(loader.batch_sampler, seed, rank)
        rebuilt = DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)
        # Keep what the config asked for readable (hooks read it); DataLoader sets None
        # next to a batch sampler and refuses the attribute afterwards.
        object.__setattr__(rebuilt, 'batch_size', loader.batch_size)
        return rebuilt
    if loader.batch_size is None:  # the config gave a batch sampler
        return DataLoader(dataset, batch_sampler=loader.batch_sampler, **kwargs)
    return DataLoader(dataset, sampler=loader.sampler, batch_size=loader.batch_size,
                      drop_last=loader.drop_last, **kwargs)
