"""What every command-line tool shares: the one-line errors, config loading with checked
``--cfg-options``, the checks that catch common mistakes before a runner is built, and the
per-task :class:`TaskSpec` (the only place where detection, segmentation and classification
differ).

Checks that turn common mistakes into one clear message:

* ``--cfg-options`` keys must name something that already exists in the config
  (mmengine would silently add a misspelt key such as ``model.backbone.archh``);
  ``+key=value`` adds a key on purpose.
* dataset ``data_root`` folders must exist (else mmengine fails deep inside a dataset);
  datasets that generate their own data (:class:`~emo_mm.datasets.SelfGeneratingDataset`)
  are skipped.
* files given on the command line must exist.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import inspect
import os
import os.path as osp
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope

from emo_mm.checkpoint import CheckpointMismatchError, CheckpointReadError, safe_torch_load
from emo_mm.datasets import is_self_generating
from emo_mm.engine import (DataSampleError, EmoMMRunner, LauncherError, NonFiniteLossError,
                           TrainingInterrupted)
from emo_mm.engine.cpu_allocator import tune_cpu_allocator
from emo_mm.engine.distributed import launcher_rank
from emo_mm.models import EMOv2ArgumentError


class ToolError(Exception):
    """Bad user input (missing file, unknown config key, ...): report it, no traceback."""


CFG_OPTIONS_HELP = (
    'override settings of the config: key=value pairs merged into it, e.g. '
    'model.backbone.arch=2m or train_dataloader.batch_size=8. A list value is '
    'key="[a,b]" or key=a,b; nested lists/tuples key="[(a,b),(c,d)]" (quotes needed, no '
    'spaces). The key must already exist in the config (list items by index: '
    'train_pipeline.1.scale); a top-level runner field such as randomness may be added, '
    'and +key=value adds any other key on purpose.')


# ----------------------------------------------------------------- tasks
@dataclass(frozen=True)
class TaskSpec:
    """How the tools drive one OpenMMLab codebase."""

    scope: str                  #: ``default_scope`` value, also the package name
    description: str            #: for messages
    vis_hook: str               #: visualization hook type in ``default_hooks.visualization``
    vis_on: dict                #: hook arguments that make it paint every test image
    vis_dir_arg: str | None     #: hook argument taking a dir under work_dir/timestamp, if any
    tta_model: dict             #: default ``tta_model`` for ``--tta``
    dump_metric: str            #: 'module:Class' of the ``--out`` evaluator

    def register_modules(self) -> None:
        """Import the package's modules into its registries (default scope is left to the
        runner, which sets it from ``cfg.default_scope``)."""
        utils = importlib.import_module(f'{self.scope}.utils')
        utils.register_all_modules(init_default_scope=False)
        if self.scope == 'mmdet':  # mmdet's tools do this to limit torch.compile recompiles
            utils.setup_cache_size_limit_of_dynamo()

    def runners(self) -> Any:
        """The package's RUNNERS registry (a child of mmengine's, so both resolve)."""
        return importlib.import_module(f'{self.scope}.registry').RUNNERS

    def build_model(self, cfg: Any) -> Any:
        """The config's model, built as the runner builds it: from the package's MODELS
        registry, with the top-level ``data_preprocessor`` as default."""
        self.register_modules()
        model_cfg = copy.deepcopy(cfg.model)
        if cfg.get('data_preprocessor') is not None:
            model_cfg.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
        models = importlib.import_module(f'{self.scope}.registry').MODELS
        with DefaultScope.overwrite_default_scope(self.scope):
            return models.build(model_cfg)

    def build_dump_metric(self, out_file: str) -> Any:
        """Evaluator metric that pickles every prediction to ``out_file``."""
        module_name, class_name = self.dump_metric.split(':')
        return getattr(importlib.import_module(module_name), class_name)(out_file_path=out_file)


TASKS: dict[str, TaskSpec] = {
    spec.scope: spec
    for spec in (
        TaskSpec(
            scope='mmdet', description='detection', vis_hook='DetVisualizationHook',
            vis_on=dict(draw=True), vis_dir_arg='test_out_dir',
            tta_model=dict(type='DetTTAModel',
                           tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                                        max_per_img=100)),
            dump_metric='mmdet.evaluation:DumpDetResults'),
        TaskSpec(
            scope='mmseg', description='segmentation', vis_hook='SegVisualizationHook',
            vis_on=dict(draw=True, interval=1), vis_dir_arg=None,
            tta_model=dict(type='SegTTAModel'),
            dump_metric='mmengine.evaluator:DumpResults'),
        TaskSpec(
            scope='mmpretrain', description='classification', vis_hook='VisualizationHook',
            vis_on=dict(enable=True, interval=1), vis_dir_arg=None,
            tta_model=dict(type='mmpretrain.AverageClsScoreTTA'),
            dump_metric='mmengine.evaluator:DumpResults'),
    )
}


def resolve_task(default_scope: Any, config_path: str) -> TaskSpec:
    """The ``TaskSpec`` for a config's ``default_scope``; a clear error if unsupported."""
    spec = TASKS.get(default_scope) if isinstance(default_scope, str) else None
    if spec is None:
        allowed = ', '.join(f"'{scope}' ({TASKS[scope].description})" for scope in TASKS)
        found = 'has no default_scope' if default_scope is None else \
            f'has default_scope={default_scope!r}'
        raise ToolError(f'config {config_path} {found}; set default_scope to one of {allowed}')
    return spec


# ----------------------------------------------------------------- checks
def is_remote(path: str) -> bool:
    """True for URLs / object-store paths (``s3://``, ``http://``...) that we cannot stat."""
    return '://' in path


def describe_path(path: str) -> str:
    """``path``, plus its absolute form when it is relative (to the current folder)."""
    return path if osp.isabs(path) else f'{path} (resolved to {osp.abspath(path)})'


def require_file(path: str, what: str) -> None:
    """Raise ``ToolError`` unless the local file ``path`` exists."""
    if not is_remote(path) and not osp.isfile(path):
        raise ToolError(f'{what} not found: {describe_path(path)}')


# ----------------------------------------------------------------- --cfg-options
def runner_config_fields() -> frozenset:
    """Top-level config keys the runner reads (``randomness``, ``env_cfg``, ...) plus
    ``runner_type``; a config may leave any of them out, so an option may create one
    (``randomness.seed=0``)."""
    from mmengine.runner import Runner
    params = inspect.signature(Runner.__init__).parameters
    return frozenset(params) - {'self', 'cfg'} | {'runner_type'}


NEW_KEY_MARK = '+'


def option_key_problem(cfg: Mapping, dotted_key: str) -> Optional[str]:
    """Why ``--cfg-options dotted_key=...`` would not override an existing value, or None.

    List items are addressed by index (``train_pipeline.1.scale``), as mmengine allows.
    A key whose first part is a runner field missing from the config is accepted.
    """
    parts = dotted_key.split('.')
    if parts[0] not in cfg and parts[0] in runner_config_fields():
        return None
    node: Any = cfg
    for depth, part in enumerate(parts):
        prefix = '.'.join(parts[:depth + 1])
        if isinstance(node, Mapping):
            if part not in node:
                return f"'{prefix}' does not exist in the config"
            node = node[part]
        elif isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                return f"'{prefix}' is not an index of the {len(node)}-item list " \
                       f"'{'.'.join(parts[:depth])}'"
            node = node[int(part)]
        else:
            parent = '.'.join(parts[:depth])
            return f"'{parent}' is {node!r} in the config, not a dict, so it has no '{part}'"
    return None


def check_cfg_options(cfg: Any, options: Optional[Mapping[str, Any]]) -> dict:
    """Validate ``--cfg-options`` against ``cfg``; return them ready for ``merge_from_dict``.

    Every key must already exist in ``cfg``, except keys marked new with a leading ``+``
    (``+test_evaluator.outfile_prefix=out``; the mark is removed) and dict values, which
    mmengine merges and which may therefore add keys.
    """
    tree = cfg if isinstance(cfg, Mapping) else cfg.to_dict()  # mmengine Config
    checked, problems = {}, []
    for key, value in (options or {}).items():
        if key.startswith(NEW_KEY_MARK):
            key = key[len(NEW_KEY_MARK):]
        elif not isinstance(value, dict) and (reason := option_key_problem(tree, key)):
            problems.append(f'  {key}: {reason}')
        checked[key] = value
    if problems:
        raise ToolError(
            'unknown --cfg-options key(s); check the spelling against the config, or mark a '
            f"key that should be added with a leading '{NEW_KEY_MARK}':\n" + '\n'.join(problems))
    return checked


# ----------------------------------------------------------------- data roots
def config_type_name(item_cfg: Mapping) -> str:
    """``type`` of a config dict without scope prefix (``mmdet.CocoDataset`` -> ``CocoDataset``)."""
    item_type = item_cfg.get('type', '')
    name = item_type if isinstance(item_type, str) else getattr(item_type, '__name__', '')
    return name.rsplit('.', 1)[-1]


def iter_leaf_datasets(dataset_cfg: Any, key: str) -> Iterator[tuple[str, Mapping]]:
    """Yield ``(config key, cfg)`` of every real dataset, looking through wrappers
    (``RepeatDataset.dataset``, ``ConcatDataset.datasets``, ...)."""
    if not isinstance(dataset_cfg, Mapping):
        return
    if isinstance(dataset_cfg.get('dataset'), Mapping):
        yield from iter_leaf_datasets(dataset_cfg['dataset'], f'{key}.dataset')
    elif isinstance(dataset_cfg.get('datasets'), (list, tuple)):
        for index, child in enumerate(dataset_cfg['datasets']):
            yield from iter_leaf_datasets(child, f'{key}.datasets.{index}')
    else:
        yield key, dataset_cfg


def needs_missing_data_root(dataset_cfg: Mapping) -> bool:
    """The dataset reads a local ``data_root`` folder that does not exist (datasets that
    write their own data are skipped)."""
    data_root = dataset_cfg.get('data_root')
    if is_self_generating(config_type_name(dataset_cfg)):
        return False
    if not isinstance(data_root, str) or not data_root or is_remote(data_root):
        return False
    return not osp.isdir(data_root)


def missing_data_roots(cfg: Any, loader_keys: list[str]) -> list[str]:
    """One message per dataset under the dataloaders ``loader_keys`` of ``cfg`` (a Config or
    dict) whose ``data_root`` folder is missing."""
    problems = []
    for loader_key in loader_keys:
        loader = cfg.get(loader_key)
        if not isinstance(loader, Mapping):
            continue
        for key, dataset in iter_leaf_datasets(loader.get('dataset'), f'{loader_key}.dataset'):
            if needs_missing_data_root(dataset):
                data_root = dataset['data_root']
                problems.append(
                    f"  {key}.data_root = '{data_root}' "
                    f"({config_type_name(dataset) or 'dataset'}): no such directory "
                    f'{osp.abspath(data_root)}')
    return problems


def check_data_roots(cfg: Any, loader_keys: list[str]) -> None:
    """Raise ``ToolError`` naming every missing ``data_root`` of the given dataloaders."""
    problems = missing_data_roots(cfg, loader_keys)
    if problems:
        raise ToolError(
            'dataset folder(s) the config expects are missing:\n' + '\n'.join(problems) +
            '\nPrepare the data there, or point the config at it with '
            '--cfg-options <key>=PATH (the key as printed above).')


# ----------------------------------------------------------------- config and runner
def dataset_meta(cfg: Config, spec: TaskSpec, checkpoint: Optional[str]) -> dict:
    """Class names (and palette) from the checkpoint's meta, else from the dataset of the
    config's test (or val) dataloader."""
    ckpt = safe_torch_load(checkpoint) if checkpoint else None
    meta = (ckpt.get('meta') or {}).get('dataset_meta') if isinstance(ckpt, dict) else None
    if meta and meta.get('classes'):
        return dict(meta)
    spec.register_modules()
    datasets = importlib.import_module(f'{spec.scope}.registry').DATASETS
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        for _, dataset_cfg in iter_leaf_datasets((loader or {}).get('dataset'), key):
            kind = dataset_cfg.get('type')
            dataset_cls = datasets.get(kind) if isinstance(kind, str) else kind
            meta = dict(getattr(dataset_cls, 'METAINFO', None) or {})
            meta.update(dataset_cfg.get('metainfo') or {})
            if meta.get('classes'):
                return meta
    raise ToolError(f'{checkpoint or "the model"} carries no class names (meta.dataset_meta) and the config '
                    "names none for its test dataset; set test_dataloader.dataset.metainfo="
                    "dict(classes=[...]) with --cfg-options")


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


def build_runner(cfg: Config, spec: TaskSpec) -> Any:
    """``RUNNERS.build`` when the config sets ``runner_type``, else
    :class:`~emo_mm.engine.EmoMMRunner` (mmengine's Runner plus CPU distributed training,
    atomic and strict checkpoints, exact resume)."""
    spec.register_modules()
    if 'runner_type' in cfg:
        return spec.runners().build(cfg)
    return EmoMMRunner.from_cfg(cfg)


# ----------------------------------------------------------------- arguments and errors
def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--work-dir, --cfg-options, --launcher, --local-rank (train and test)."""
    parser.add_argument('--work-dir', help='folder for logs, checkpoints and dumped config '
                        '(default: work_dir of the config, else ./work_dirs/<config stem>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch (torch >= 2.0) passes --local-rank, older ones --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def add_deploy_form_arg(parser: argparse.ArgumentParser, during: str) -> None:
    """--no-deploy-form (train, test, infer)."""
    parser.add_argument('--no-deploy-form', dest='deploy_form', action='store_false',
                        help=f'run the backbone as trained during {during} (default: its '
                        'deploy form, BatchNorm and LayerScale folded into a copy: the same '
                        'function, faster)')


def enable_deploy_form(cfg: Config, enabled: bool) -> None:
    """Add :class:`~emo_mm.engine.DeployFormHook` to the config's custom hooks."""
    hooks = list(cfg.get('custom_hooks') or [])
    if enabled and not any(isinstance(h, Mapping) and h.get('type') == 'DeployFormHook'
                           for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='DeployFormHook')]


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse ``argv``; export LOCAL_RANK for launchers that only pass --local-rank."""
    args = parser.parse_args(argv)
    if hasattr(args, 'local_rank'):
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


#: Exceptions that end a tool with a one-line message, and their exit codes: 2 for bad
#: input (files, config values, checkpoints, data), 1 for a training run that diverged, 3
#: for a run stopped by a signal after saving a checkpoint (``--resume`` continues it).
EXIT_CODES: tuple[tuple[type, int], ...] = (
    (TrainingInterrupted, 3),
    (NonFiniteLossError, 1),
    ((ToolError, FileNotFoundError, CheckpointMismatchError, CheckpointReadError,
      DataSampleError, EMOv2ArgumentError, LauncherError), 2),
)
#: Errors that may concern one rank only; the others are the same on every rank of a
#: multi-process job (same config, same files), so only rank 0 prints them.
RANK_SPECIFIC = (DataSampleError, )


def exit_code_of(err: BaseException) -> Optional[int]:
    """The exit code for an error the tools report as one line, else None."""
    for types, code in EXIT_CODES:
        if isinstance(err, types):
            return code
    return None


def describe_error(err: BaseException) -> str:
    """The one-line message for ``err`` (with the config key to fix, where we know it)."""
    if isinstance(err, EMOv2ArgumentError):
        return (f'model.backbone (EMOv2): {err}. Fix it in the config, or with --cfg-options '
                'model.backbone.<key>=<value>')
    return str(err)


def run_command(command: Callable[[argparse.Namespace], None],
                parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> int:
    """Run ``command`` with freed CPU memory kept for reuse (:func:`tune_cpu_allocator`); a
    known error becomes ``<prog>: error: ...`` and its exit code
    (:data:`EXIT_CODES`); anything else is a bug and keeps its traceback."""
    args = parse_args(parser, argv)
    tune_cpu_allocator()
    try:
        command(args)
    except Exception as err:  # noqa: BLE001 (re-raised unless it is a known error)
        code = exit_code_of(err)
        if code is None:
            raise
        rank = launcher_rank()
        if rank == 0 or isinstance(err, RANK_SPECIFIC):
            where = f' (rank {rank})' if rank else ''
            label = 'stopped' if isinstance(err, TrainingInterrupted) else 'error'
            print(f'{parser.prog}: {label}{where}: {describe_error(err)}', file=sys.stderr)
        return code
    return 0
