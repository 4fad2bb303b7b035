from .complexity import count_flops, count_params
from .timing import synchronize, time_round_robin

__all__ = ['count_flops', 'count_params', 'synchronize', 'time_round_robin']
