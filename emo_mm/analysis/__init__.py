from .complexity import count_flops, count_params
from .curves import CurvesError, RunScalars, curves_figure, default_keys, load_runs, plot_curves
from .timing import matmul_rate, step_flops, synchronize, time_round_robin

__all__ = [
    'CurvesError', 'RunScalars', 'count_flops', 'count_params', 'curves_figure', 'default_keys',
    'load_runs', 'matmul_rate', 'plot_curves', 'step_flops', 'synchronize',
    'time_round_robin'
]
