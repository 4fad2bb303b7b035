# mmseg's scope and visualizer on the CPU demos' shared schedule and hooks.
_base_ = '../../_base_/schedules/cpu_demo.py'
default_scope = 'mmseg'
env_cfg = dict(cudnn_benchmark=True)
visualizer = dict(type='SegLocalVisualizer', vis_backends=_base_.vis_backends, name='visualizer')
default_hooks = dict(visualization=dict(type='SegVisualizationHook'))
tta_model = dict(type='SegTTAModel')
