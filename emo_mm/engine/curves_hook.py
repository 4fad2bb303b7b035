""":class:`PlotCurvesHook`: at the end of a training run, draw its loss and validation-metric
curves (:func:`emo_mm.analysis.curves.plot_curves`) into ``<work_dir>/<timestamp>/curves.png``.

Plotting is a convenience: a failure is logged as a warning and never stops or fails the run
(its checkpoints and logs are written before the hook runs)."""
from __future__ import annotations

import logging
import os.path as osp
from typing import Any, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.visualization import LocalVisBackend

from emo_mm.analysis.curves import SCALARS_FILE, plot_curves


def local_scalars_file(runner: Any) -> Optional[str]:
    """The scalars.json the runner's ``LocalVisBackend`` writes, if it has one."""
    visualizer = getattr(runner, 'visualizer', None)
    for backend in (getattr(visualizer, '_vis_backends', None) or {}).values():
        if isinstance(backend, LocalVisBackend) and backend._save_dir:  # noqa: SLF001
            return osp.join(backend._save_dir,  # noqa: SLF001
                            osp.basename(backend._scalar_save_file))  # noqa: SLF001
    return None


@HOOKS.register_module()
class PlotCurvesHook(Hook):
    """After training, plot the run's curves into ``<log_dir>/<out_file>`` (rank 0 only).

    Args:
        out_file: image file name (or path) relative to the run's log dir
            (``<work_dir>/<timestamp>``); its extension picks the format.
        keys: the curves to draw, as ``tools/analysis/plot_curves.py --keys`` takes them;
            default ``loss`` and every validation metric.
    """

    priority = 'LOWEST'

    def __init__(self, out_file: str = 'curves.png', keys: Optional[Sequence[str]] = None) -> None:
        self.out_file = out_file
        self.keys = list(keys) if keys else None
        self.written: Optional[str] = None   #: the image of the last run, once drawn
        self._trained = False

    def before_train(self, runner: Any) -> None:
        self._trained = True

    def after_run(self, runner: Any) -> None:
        if not self._trained or not is_main_process():
            return   # a test / validation-only run, or another rank
        self.written = None
        try:
            scalars = local_scalars_file(runner)
            if scalars is None:
                print_log('PlotCurvesHook: the visualizer has no LocalVisBackend, so there is no '
                          f'{SCALARS_FILE} to plot', logger='current', level=logging.WARNING)
                return
            if not osp.isfile(scalars):
                print_log(f'PlotCurvesHook: {scalars} was not written (nothing logged), no '
                          'curves', logger='current', level=logging.WARNING)
                return
            out = osp.join(runner.log_dir, self.out_file)
            name = osp.basename(osp.abspath(runner.work_dir))
            self.written = plot_curves([scalars], out, keys=self.keys, legend=[name])
            print_log(f'curves: {self.written}', logger='current')
        except Exception as err:  # noqa: BLE001 (a picture must not cost the training run)
            print_log(f'PlotCurvesHook: could not plot the curves ({type(err).__name__}: {err}); '
                      'the checkpoints and logs are unaffected', logger='current',
                      level=logging.WARNING)
