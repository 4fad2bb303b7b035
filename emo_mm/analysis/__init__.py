from .complexity import count_flops, count_params
from .curves import CurvesError, RunScalars, curves_figure, default_keys, load_runs, plot_curves
from .timing import synchronize, time_round_robin

__all__ = [
    'CurvesError', 'RunScalars', 'count_flops', 'count_params', 'curves_figure', 'default_keys',
    'load_runs', 'plot_curves', 'synchronize', 'time_round_robin'
]
