# mmpretrain's scope and visualizer on the CPU demos' shared schedule and hooks.
_base_ = '../../_base_/schedules/cpu_demo.py'
default_scope = 'mmpretrain'
visualizer = dict(type='UniversalVisualizer', vis_backends=_base_.vis_backends)
default_hooks = dict(visualization=dict(type='VisualizationHook', enable=False))
randomness = dict(seed=None, deterministic=False)
