"""Shared logic of the train/test entry points (``tools/train.py``, ``tools/test.py``).

The config's ``default_scope`` (``mmdet``, ``mmseg`` or ``mmpretrain``) selects a
``TaskSpec``; everything else (argument handling, config checks, runner building) is
common. Importing this package imports ``emo_mm``, which registers ``EMOv2`` and lets
torch's safe loader read mmengine checkpoints (needed by ``--resume`` and testing).
"""
from .checks import check_cfg_options, check_data_roots, option_key_problem
from .cli import build_test_parser, build_train_parser, test_main, train_main
from .errors import ToolError
from .tasks import TASKS, TaskSpec, resolve_task

__all__ = [
    'TASKS', 'TaskSpec', 'ToolError', 'build_test_parser', 'build_train_parser',
    'check_cfg_options', 'check_data_roots', 'option_key_problem', 'resolve_task',
    'test_main', 'train_main'
]
