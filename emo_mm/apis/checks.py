"""Checks that turn common mistakes into one clear message before a runner is built.

* ``--cfg-options`` keys must name something that already exists in the config
  (mmengine would silently add a misspelt key such as ``model.backbone.archh``);
  ``+key=value`` adds a key on purpose.
* dataset ``data_root`` folders must exist (else mmengine fails deep inside a dataset).
* files given on the command line must exist.
"""
from __future__ import annotations

import inspect
import os.path as osp
from collections.abc import Mapping
from typing import Any, Iterator, Optional

from .errors import ToolError

#: Dataset types (scope prefix stripped) starting with this generate their own data.
SELF_GENERATING_DATASET_PREFIX = 'Shapes'


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
    """The dataset reads a local ``data_root`` folder that does not exist.

    Datasets whose type starts with ``Shapes`` write their own data and are skipped.
    """
    data_root = dataset_cfg.get('data_root')
    if config_type_name(dataset_cfg).startswith(SELF_GENERATING_DATASET_PREFIX):
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
