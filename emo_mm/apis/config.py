"""Loading a config and applying the command-line switches of the train/test tools to it,
with mmdet 3.3's semantics, for any task in ``TASKS``."""
from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Mapping
from typing import Optional

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from emo_mm.engine.distributed import accelerator_available

from .checks import (check_cfg_options, check_data_roots, config_type_name,
                     iter_leaf_datasets, require_file)
from .errors import ToolError
from .tasks import TaskSpec, resolve_task


def load_config(config_path: str, cfg_options: Optional[dict], launcher: str,
                work_dir: Optional[str]) -> tuple[Config, TaskSpec]:
    """Read the config, find its task, apply checked ``--cfg-options``, launcher, work_dir.

    work_dir priority (as in mmdet): CLI > config > ``./work_dirs/<config stem>``.
    """
    require_file(config_path, 'config file')
    try:
        cfg = Config.fromfile(config_path)
    # A typo, a missing _base_ file, keys duplicated among bases, an unimportable custom_imports.
    except (SyntaxError, FileNotFoundError, KeyError, TypeError, ImportError) as err:
        raise ToolError(
            f'cannot read config {config_path}: {type(err).__name__}: {err}') from err
    if cfg_options:
        cfg.merge_from_dict(check_cfg_options(cfg, cfg_options))
    spec = resolve_task(cfg.get('default_scope'), config_path)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])
    return cfg, spec


# ----------------------------------------------------------------- training switches
def enable_amp(cfg: Config) -> None:
    """``--amp``: ``AmpOptimWrapper`` with dynamic loss scaling."""
    if not accelerator_available():
        raise ToolError('--amp needs a CUDA (or NPU/MLU/MUSA) device: mmengine\'s '
                        'AmpOptimWrapper does not train on CPU. Run without --amp.')
    if not isinstance(cfg.get('optim_wrapper'), Mapping):
        raise ToolError('--amp needs an `optim_wrapper` dict in the config')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def enable_auto_scale_lr(cfg: Config) -> None:
    """``--auto-scale-lr``: needs ``auto_scale_lr=dict(base_batch_size=N)`` in the config."""
    auto_scale_lr = cfg.get('auto_scale_lr')
    if not isinstance(auto_scale_lr, Mapping) or 'base_batch_size' not in auto_scale_lr:
        raise ToolError('--auto-scale-lr needs `auto_scale_lr = dict(enable=False, '
                        'base_batch_size=N)` in the config (N: the total batch size the '
                        'learning rate was tuned for); this config has none')
    auto_scale_lr['enable'] = True


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` alone: latest checkpoint in work_dir; ``--resume CKPT``: that file."""
    if resume is None:
        return
    cfg.resume = True
    if resume == 'auto':
        cfg.load_from = None
    else:
        require_file(resume, 'checkpoint to resume from')
        cfg.load_from = resume


def train_loader_keys(cfg: Config) -> list[str]:
    """Dataloaders ``runner.train()`` builds (validation only when it is configured)."""
    keys = ['train_dataloader']
    if cfg.get('val_cfg') is not None and cfg.get('val_dataloader') is not None:
        keys.append('val_dataloader')
    return keys


def prepare_train_config(cfg: Config, amp: bool, auto_scale_lr: bool,
                         resume: Optional[str]) -> None:
    """Apply the training switches, then check the data folders."""
    if amp:
        enable_amp(cfg)
    if auto_scale_lr:
        enable_auto_scale_lr(cfg)
    set_resume(cfg, resume)
    check_data_roots(cfg, train_loader_keys(cfg))


# ----------------------------------------------------------------- testing switches
def require_test_sections(cfg: Config) -> None:
    """mmengine needs test_dataloader, test_cfg and test_evaluator together."""
    missing = [key for key in ('test_dataloader', 'test_cfg', 'test_evaluator')
               if cfg.get(key) is None]
    if missing:
        raise ToolError(f"the config cannot be tested: it has no {', '.join(missing)}")


def _route_local_images(cfg: Config, show_dir: str) -> None:
    """Send the visualizer's ``LocalVisBackend`` images to ``<log_dir>/<show_dir>``.

    The runner gives the backend ``save_dir=<work_dir>/<timestamp>/vis_data``; the
    timestamp is not known yet, so the image folder is given relative to that.
    """
    visualizer = cfg.get('visualizer')
    if not isinstance(visualizer, Mapping):
        raise ToolError('--show-dir needs a `visualizer` in the config')
    backends = list(visualizer.get('vis_backends') or [])
    local = [backend for backend in backends if config_type_name(backend) == 'LocalVisBackend']
    if not local:
        local = [ConfigDict(type='LocalVisBackend')]
        backends += local
    for backend in local:
        backend['img_save_dir'] = osp.join('..', show_dir)
    visualizer['vis_backends'] = backends


def enable_visualization(cfg: Config, spec: TaskSpec, show: bool, wait_time: float,
                         show_dir: Optional[str]) -> None:
    """``--show`` / ``--show-dir``: switch on the task's visualization hook; painted test
    images go to ``<work_dir>/<timestamp>/<show_dir>``."""
    hook = (cfg.get('default_hooks') or {}).get('visualization')
    if not isinstance(hook, Mapping):
        raise ToolError(f'--show/--show-dir need `default_hooks.visualization = '
                        f"dict(type='{spec.vis_hook}')` in the config")
    hook.update(spec.vis_on)
    if show:
        hook.update(show=True, wait_time=wait_time)
    if show_dir:
        if spec.vis_dir_arg:
            hook[spec.vis_dir_arg] = show_dir
        else:
            _route_local_images(cfg, show_dir)


def flip_tta_pipeline(pipeline: list) -> list:
    """Test pipeline whose packing step runs on the image and its horizontal flip."""
    pipeline = copy.deepcopy(list(pipeline))
    pack = pipeline[-1]
    if pack.get('meta_keys') is not None:  # results must say whether they were flipped
        pack['meta_keys'] = tuple(pack['meta_keys']) + tuple(
            key for key in ('flip', 'flip_direction') if key not in pack['meta_keys'])
    pipeline[-1] = dict(
        type='TestTimeAug',
        transforms=[[dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
                    [pack]])
    return pipeline


def enable_tta(cfg: Config, spec: TaskSpec) -> None:
    """``--tta``: wrap the model in ``tta_model`` and test with ``tta_pipeline``
    (defaults: the task's TTA model, flip augmentation of the test pipeline)."""
    datasets = [dataset for _, dataset in
                iter_leaf_datasets(cfg.test_dataloader.get('dataset'), 'test_dataloader')]
    if 'tta_model' not in cfg:
        print_log(f'--tta: no tta_model in the config, using {spec.tta_model}', 'current')
        cfg.tta_model = copy.deepcopy(spec.tta_model)
    if 'tta_pipeline' not in cfg:
        if not datasets or 'pipeline' not in datasets[0]:
            raise ToolError('--tta: the config has no tta_pipeline and no test pipeline')
        print_log('--tta: no tta_pipeline in the config, using flip augmentation', 'current')
        cfg.tta_pipeline = flip_tta_pipeline(datasets[0].pipeline)
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    for dataset in datasets:
        dataset.pipeline = copy.deepcopy(cfg.tta_pipeline)


def check_out_file(out: Optional[str]) -> None:
    """``--out`` must be a pickle path (mmengine's DumpResults requires it)."""
    if out is not None and not out.endswith(('.pkl', '.pickle')):
        raise ToolError(f'--out must end with .pkl or .pickle, got {out}')


def prepare_test_config(cfg: Config, spec: TaskSpec, checkpoint: str, out: Optional[str],
                        show: bool, wait_time: float, show_dir: Optional[str],
                        tta: bool) -> None:
    """Apply the testing switches, then check the data folder."""
    require_test_sections(cfg)
    require_file(checkpoint, 'checkpoint')
    check_out_file(out)
    cfg.load_from = checkpoint
    if show or show_dir:
        enable_visualization(cfg, spec, show, wait_time, show_dir)
    if tta:
        enable_tta(cfg, spec)
    check_data_roots(cfg, ['test_dataloader'])
