"""``tools/test.py``: test (and evaluate) a detector, segmentor or classifier, with mmdet 3.3's
``--out``, ``--show``, ``--show-dir`` and ``--tta``, and ``--precision bf16/int8`` (the
backbone's deploy form in low precision)."""
from __future__ import annotations

import argparse
import copy
import os.path as osp
from collections.abc import Mapping
from typing import Optional, Sequence

from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from emo_mm.deploy.precision import PRECISIONS, UnsupportedPrecisionError, check_precision

from .common import (TaskSpec, ToolError, add_common_args, add_deploy_form_arg, build_runner,
                     check_data_roots, config_type_name, enable_deploy_form, iter_leaf_datasets,
                     load_config, require_file, run_command)


def build_test_parser() -> argparse.ArgumentParser:
    """Arguments of tools/test.py."""
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a detector, segmentor or classifier.')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions to this pickle file (.pkl)')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save painted predictions under '
                        '<work_dir>/<timestamp>/<show_dir>')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each --show window stays up')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation '
                        '(tta_model/tta_pipeline of the config, else flip)')
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help="the backbone's deploy form in bfloat16 or int8 (CPU; neck and "
                        'heads stay float32), to check what a low-precision deployment scores')
    parser.add_argument('--calib-images', type=int, default=256,
                        help='training images that calibrate --precision int8')
    add_deploy_form_arg(parser, 'testing')
    add_common_args(parser)
    return parser


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


def enable_precision(cfg: Config, precision: str, calib_images: int) -> None:
    """``--precision bf16/int8``: test with :class:`~emo_mm.engine.InferencePrecisionHook`."""
    if precision == 'fp32':
        return
    try:
        check_precision(precision)
    except UnsupportedPrecisionError as err:
        raise ToolError(str(err)) from err
    if calib_images < 1:
        raise ToolError(f'--calib-images must be >= 1, got {calib_images}')
    if precision == 'int8':
        check_data_roots(cfg, ['train_dataloader'])
    hooks = list(cfg.get('custom_hooks') or [])
    hooks.append(dict(type='InferencePrecisionHook', precision=precision, calib_images=calib_images))
    cfg.custom_hooks = hooks


def run_test(args: argparse.Namespace) -> None:
    """tools/test.py."""
    cfg, spec = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    prepare_test_config(cfg, spec, args.checkpoint, out=args.out, show=args.show,
                        wait_time=args.wait_time, show_dir=args.show_dir, tta=args.tta)
    enable_precision(cfg, args.precision, args.calib_images)
    # Low precisions convert the deploy form already.
    enable_deploy_form(cfg, args.deploy_form and args.precision == 'fp32')
    runner = build_runner(cfg, spec)
    if args.out is not None:
        runner.test_evaluator.metrics.append(spec.build_dump_metric(args.out))
    runner.test()


def test_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/test.py; returns the exit code."""
    return run_command(run_test, build_test_parser(), argv)
