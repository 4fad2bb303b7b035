"""The command-line tools, one module each (``tools/train.py`` -> :mod:`.train`,
``tools/test.py`` -> :mod:`.test`, ``tools/infer.py`` -> :mod:`.infer`,
``tools/deployment/export_aot.py`` -> :mod:`.export`), over :mod:`.common` (errors, config
loading and checks, the per-task :class:`~.common.TaskSpec`). Importing this package imports
``emo_mm``, which registers ``EMOv2`` and lets torch's safe loader read mmengine checkpoints.
"""
from .common import TASKS, TaskSpec, ToolError, check_cfg_options, check_data_roots, resolve_task

__all__ = ['TASKS', 'TaskSpec', 'ToolError', 'check_cfg_options', 'check_data_roots', 'resolve_task']
