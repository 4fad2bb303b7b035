"""Runner-level pieces of emo_mm: :class:`EmoMMRunner` (multi-process training on CPUs,
atomic and strict checkpoints, exact resume), the hooks and data wrappers behind it, and the
CPU allocator setting the tools apply (:func:`tune_cpu_allocator`).

Importing this package registers ``EmoMMRunner`` in mmengine's ``RUNNERS`` and the hooks
in ``HOOKS`` (and :class:`MergedGroupsOptimWrapperConstructor` in
``OPTIM_WRAPPER_CONSTRUCTORS``), so configs can name them (``runner_type='EmoMMRunner'``,
``custom_hooks=[dict(type='PlotCurvesHook')]``) in every scope.
"""
from .cpu_allocator import tune_cpu_allocator
from .cpu_amp import CpuBf16OptimWrapper, cpu_has_bf16
from .curves_hook import PlotCurvesHook
from .data import DataSampleError, ReproducibleDataset, ResumableBatchSampler
from .deploy_form_hook import DeployFormHook, has_deploy_form
from .distributed import LauncherError
from .optim_constructor import MergedGroupsOptimWrapperConstructor, merge_param_groups
from .hooks import (CheckpointOnSignalHook, ExactResumeHook, NonFiniteLossError,
                    StopOnNonFiniteLossHook, TrainingInterrupted)
from .precision_hook import InferencePrecisionHook
from .runner import EmoMMRunner

__all__ = [
    'CheckpointOnSignalHook', 'CpuBf16OptimWrapper', 'DataSampleError', 'DeployFormHook', 'EmoMMRunner', 'ExactResumeHook',
    'InferencePrecisionHook', 'LauncherError', 'MergedGroupsOptimWrapperConstructor',
    'NonFiniteLossError', 'PlotCurvesHook', 'ReproducibleDataset', 'ResumableBatchSampler',
    'StopOnNonFiniteLossHook', 'TrainingInterrupted', 'cpu_has_bf16', 'has_deploy_form',
    'merge_param_groups', 'tune_cpu_allocator'
]
