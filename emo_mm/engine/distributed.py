"""Multi-process training on machines without GPUs (gloo), with mmengine's launchers.

mmengine 0.10's ``init_dist`` binds every process to a GPU (``torch.cuda.set_device``) and
its ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to DDP, which DDP rejects for
a CPU module. On a CPU-only machine :class:`~emo_mm.engine.EmoMMRunner` therefore starts
the process group itself (:func:`init_cpu_process_group`, same environment variables as
mmengine's launchers) and wraps the model with ``device_ids=None``
(:func:`cpu_model_wrapper_cfg`). With GPUs, mmengine's own code runs unchanged.
"""
from __future__ import annotations

import copy
import datetime
import os
import subprocess
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.logging import print_log
from mmengine.registry import MODEL_WRAPPERS

#: torch.distributed's default rendezvous port (also mmengine's).
DEFAULT_MASTER_PORT = '29500'


def accelerator_available() -> bool:
    """A CUDA / NPU / MLU / MUSA device is present (mmengine then picks it)."""
    from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                                 is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def launcher_rank() -> int:
    """This process's global rank: the process group's, else what the launcher set in the
    environment (torchrun, srun, mpirun), else 0."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        return torch_dist.get_rank()
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        if os.environ.get(name, '').isdigit():
            return int(os.environ[name])
    return 0


class LauncherError(RuntimeError):
    """``--launcher`` was given without the environment its launcher sets."""


#: What each launcher sets in every process's environment, and how to start it.
LAUNCHER_ENV = {
    'pytorch': (('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'),
                'start it with tools/dist_train.sh (torchrun)'),
    'slurm': (('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST'),
              'start it with srun (tools/slurm_train.sh)'),
    'mpi': (('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE', 'MASTER_ADDR'),
            'start it with mpirun and set MASTER_ADDR'),
}


def check_launcher_env(launcher: str) -> None:
    """Raise :class:`LauncherError` unless the variables ``launcher`` sets are present
    (``tools/train.py --launcher pytorch`` run by hand, outside torchrun, say)."""
    names, hint = LAUNCHER_ENV[launcher]
    missing = [name for name in names if name not in os.environ]
    if missing:
        raise LauncherError(f"--launcher {launcher} needs the environment variable(s) "
                            f"{', '.join(missing)}, which are not set: {hint}, or leave "
                            '--launcher out to train in one process')


def slurm_master_addr(node_list: str) -> str:
    """First host name of a Slurm node list (``node[1-4]`` -> ``node1``), as mmengine does."""
    try:
        out = subprocess.run(['scontrol', 'show', 'hostnames', node_list], check=True,
                             capture_output=True, text=True, timeout=60).stdout.split()
    except (OSError, subprocess.SubprocessError) as err:
        raise LauncherError(f'cannot expand the Slurm node list {node_list!r} with scontrol: '
                           f'{err}; set MASTER_ADDR to the first node') from err
    if not out:
        raise LauncherError(f'scontrol printed no host for the node list {node_list!r}; '
                           'set MASTER_ADDR to the first node')
    return out[0]


def set_launcher_env(launcher: str, port: Optional[int] = None) -> None:
    """Fill RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT for
    ``init_process_group(init_method='env://')`` from what the launcher provides."""
    check_launcher_env(launcher)
    if launcher == 'pytorch':  # torchrun sets all of them
        return
    if launcher == 'slurm':
        os.environ['RANK'] = os.environ['SLURM_PROCID']
        os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
        os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
        if 'MASTER_ADDR' not in os.environ:
            os.environ['MASTER_ADDR'] = slurm_master_addr(os.environ['SLURM_NODELIST'])
    elif launcher == 'mpi':
        os.environ['RANK'] = os.environ['OMPI_COMM_WORLD_RANK']
        os.environ['WORLD_SIZE'] = os.environ['OMPI_COMM_WORLD_SIZE']
        os.environ['LOCAL_RANK'] = os.environ.get('OMPI_COMM_WORLD_LOCAL_RANK', '0')
    else:
        raise ValueError(f'unknown launcher {launcher!r}; use pytorch, slurm or mpi')
    if port is not None:
        os.environ['MASTER_PORT'] = str(port)
    os.environ.setdefault('MASTER_PORT', DEFAULT_MASTER_PORT)


def init_cpu_process_group(launcher: str, dist_cfg: Optional[dict] = None) -> None:
    """Start the default process group with the gloo backend for ``launcher``.

    ``dist_cfg`` is the config's ``env_cfg.dist_cfg``: its ``timeout`` (seconds) and
    ``port`` (Slurm / MPI) are honoured; a GPU backend it names (nccl, ...) is replaced by
    gloo, the only torch backend that runs on CPUs everywhere.
    """
    dist_cfg = dict(dist_cfg or {})
    backend = dist_cfg.pop('backend', 'gloo')
    port = dist_cfg.pop('port', None)
    dist_cfg.pop('init_backend', None)
    if backend != 'gloo':
        print_log(f"no GPU on this machine: using the gloo backend instead of '{backend}'",
                  logger='current')
    if dist_cfg.get('timeout') is not None:
        dist_cfg['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
    set_launcher_env(launcher, port)
    torch_dist.init_process_group(backend='gloo', init_method='env://',
                                  rank=int(os.environ['RANK']),
                                  world_size=int(os.environ['WORLD_SIZE']), **dist_cfg)


def cpu_model_wrapper_cfg(model_wrapper_cfg: Optional[dict],
                          find_unused_parameters: bool = False) -> dict:
    """The ``model_wrapper_cfg`` that mmengine's ``wrap_model`` needs for a CPU model.

    Without one, mmengine builds ``MMDistributedDataParallel(broadcast_buffers=False,
    find_unused_parameters=...)``; we state the same explicitly, so that the config's
    value of ``device_ids`` (None: the module's own device) overrides mmengine's default
    ``[LOCAL_RANK]``. A given ``model_wrapper_cfg`` keeps its settings.
    """
    if model_wrapper_cfg is None:
        wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=find_unused_parameters)
    else:
        wrapper = copy.deepcopy(dict(model_wrapper_cfg))
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    wrapper_cls = MODEL_WRAPPERS.get(wrapper_type) if isinstance(wrapper_type, str) \
        else wrapper_type
    if isinstance(wrapper_cls, type) and issubclass(
            wrapper_cls, torch.nn.parallel.DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    return wrapper
