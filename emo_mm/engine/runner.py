"""``EmoMMRunner``: mmengine's Runner, made to train on CPU clusters and to resume exactly.

``tools/train.py`` and ``tools/test.py`` build it for every config (unless the config
names its own ``runner_type``); a config can also set ``runner_type = 'EmoMMRunner'`` to
get it from mmdet's, mmseg's or mmpretrain's own tools. What it changes:

* ``--launcher pytorch|slurm|mpi`` on a machine without GPUs: gloo process group and
  DDP without ``device_ids`` (:mod:`emo_mm.engine.distributed`); GPUs are unchanged.
* Checkpoints are written to a partial file and renamed, so a kill during a save never
  leaves a truncated checkpoint behind; ``--resume`` falls back to the newest complete
  checkpoint when ``last_checkpoint`` is unusable.
* Checkpoints are read with torch's safe unpickler, and must fit the model: strictly
  when testing, validating or resuming; a fine-tuning ``load_from`` must share weights.
* The training dataloader seeds each sample and can skip trained batches
  (:mod:`emo_mm.engine.data`), and :class:`~emo_mm.engine.hooks.ExactResumeHook`,
  :class:`~emo_mm.engine.hooks.StopOnNonFiniteLossHook` and
  :class:`~emo_mm.engine.hooks.CheckpointOnSignalHook` are registered.
"""
from __future__ import annotations

import os.path as osp
import warnings
from typing import Any, Callable, Optional, Union

import torch.distributed as torch_dist
from mmengine.dist import get_rank, is_distributed, master_only
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch.utils.data import DataLoader

from emo_mm.checkpoint import (CheckpointMismatchError, check_checkpoint_fits, is_local_path,
                               read_training_checkpoint)
from .checkpoints import find_resume_checkpoint, move_into_place, partial_name, remove_partial_files
from .data import rebuild_dataloader
from .distributed import (accelerator_available, check_launcher_env, cpu_model_wrapper_cfg,
                          init_cpu_process_group)
from .hooks import CheckpointOnSignalHook, ExactResumeHook, StopOnNonFiniteLossHook

#: Hooks every EmoMMRunner has (a config's ``custom_hooks`` entry of the type wins).
RELIABILITY_HOOKS = (ExactResumeHook, StopOnNonFiniteLossHook, CheckpointOnSignalHook)


@RUNNERS.register_module()
class EmoMMRunner(Runner):
    """mmengine :class:`~mmengine.runner.Runner` with CPU distributed training, atomic and
    strict checkpoints, and exact resume (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._strict_loading = False
        self._loader_split: Optional[str] = None  # the loop whose dataloader is being built
        super().__init__(*args, **kwargs)
        if self.distributed:
            self.logger.info(f'distributed: {self.world_size} processes, launcher '
                             f'{self.launcher}, backend {torch_dist.get_backend()}')
        present = {type(hook) for hook in self.hooks}
        for hook_type in RELIABILITY_HOOKS:
            if hook_type not in present:
                self.register_hook(hook_type())

    # ------------------------------------------------------------ distributed on CPU
    def setup_env(self, env_cfg: dict) -> None:
        if self.distributed and not is_distributed():
            check_launcher_env(self.launcher)  # on GPUs too: mmengine would raise KeyError
            if not accelerator_available():
                # mmengine skips its own init_dist when a process group exists.
                init_cpu_process_group(self.launcher, env_cfg.get('dist_cfg'))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[dict], model: Any) -> Any:
        # EMOv2 keeps its weights channels-last; for 1x1 kernels that is the same memory
        # order as the contiguous gradients, so DDP's copy into its buckets costs the same
        # and its warning that the strides differ is noise.
        warnings.filterwarnings('ignore', message='Grad strides do not match bucket view')
        if self.distributed and not is_model_wrapper(model) and not accelerator_available():
            model_wrapper_cfg = cpu_model_wrapper_cfg(
                model_wrapper_cfg, self.cfg.get('find_unused_parameters', False))
        return super().wrap_model(model_wrapper_cfg, model)

    # ------------------------------------------------------------ data
    def _build_loop(self, split: str, build: Callable, loop: Any) -> Any:
        self._loader_split = split
        try:
            return build(loop)
        finally:
            self._loader_split = None

    def build_train_loop(self, loop: Any) -> Any:
        return self._build_loop('train', super().build_train_loop, loop)

    def build_val_loop(self, loop: Any) -> Any:
        return self._build_loop('val', super().build_val_loop, loop)

    def build_test_loop(self, loop: Any) -> Any:
        return self._build_loop('test', super().build_test_loop, loop)

    def build_dataloader(self, dataloader: Union[DataLoader, dict], seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> DataLoader:
        """mmengine's dataloader, with its dataset wrapped in :class:`ReproducibleDataset`
        and, for training, its batch sampler in :class:`ResumableBatchSampler`."""
        loader = Runner.build_dataloader(dataloader, seed, diff_rank_seed)
        if isinstance(dataloader, DataLoader):  # built by the caller: leave it alone
            return loader
        split = self._loader_split or 'dataloader'
        return rebuild_dataloader(loader, split, resumable=split == 'train', seed=seed,
                                  rank=get_rank())

    # ------------------------------------------------------------ checkpoints
    @master_only
    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: Optional[dict] = None, save_optimizer: bool = True,
                        save_param_scheduler: bool = True, meta: Optional[dict] = None,
                        by_epoch: bool = True, backend_args: Optional[dict] = None) -> None:
        """mmengine's save, written to ``.<filename>.partial`` and renamed when complete."""
        local = file_client_args is None and is_local_path(out_dir, backend_args)
        super().save_checkpoint(out_dir, partial_name(filename) if local else filename,
                                file_client_args, save_optimizer, save_param_scheduler, meta,
                                by_epoch, backend_args)
        if local:
            move_into_place(osp.join(out_dir, partial_name(filename)),
                            osp.join(out_dir, filename))

    def load_or_resume(self) -> None:
        if self._resume and self._load_from is None and not self._has_loaded:
            found = find_resume_checkpoint(self.work_dir)
            if found is None:
                self.logger.info(f'--resume: no checkpoint in {self.work_dir} yet, training '
                                 'from the start')
                self._resume = False
            else:
                self.logger.info(f'Auto resumed from the latest checkpoint {found}.')
                self._load_from = found
        super().load_or_resume()

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        self._strict_loading = True
        try:
            super().resume(filename, *args, **kwargs)
        except ValueError as err:
            if 'parameter group' not in str(err) or isinstance(err, CheckpointMismatchError):
                raise
            raise CheckpointMismatchError(
                f"{filename}: its optimizer state does not fit this config's optimizer ({err}); "
                'resume with the optim_wrapper (constructor, paramwise_cfg) the run started '
                'with, or start a new run from its weights with --cfg-options load_from=...'
            ) from err
        finally:
            self._strict_loading = False
        if is_local_path(self.work_dir) and get_rank() == 0:
            for path in remove_partial_files(self.work_dir):
                self.logger.warning(f'removed {path}, left by a save that was interrupted')

    def val(self) -> dict:
        self._strict_loading = True
        return super().val()

    def test(self) -> dict:
        self._strict_loading = True
        return super().test()

    def load_checkpoint(self, filename: str, map_location: Union[str, Callable] = 'cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]) -> dict:  # noqa: B006
        """mmengine's ``load_checkpoint``, reading local files safely and checking that the
        checkpoint fits the model (strictly when testing, validating or resuming)."""
        strict = strict or self._strict_loading
        checkpoint = read_training_checkpoint(filename, map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        check_checkpoint_fits(model, checkpoint, filename, strict, revise_keys)
        _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
