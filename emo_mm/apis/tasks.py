"""What differs between detection, segmentation and classification: one ``TaskSpec`` per
OpenMMLab ``default_scope``, everything else in the tools is shared."""
from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from typing import Any

from .errors import ToolError


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
        from mmengine.registry import DefaultScope
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
