# mmdet's scope and visualizer on the CPU demos' shared schedule and hooks; predictions are
# painted for every third validation image.
_base_ = '../../_base_/schedules/cpu_demo.py'
default_scope = 'mmdet'
visualizer = dict(type='DetLocalVisualizer', vis_backends=_base_.vis_backends, name='visualizer')
default_hooks = dict(visualization=dict(type='DetVisualizationHook', draw=True, interval=3))
