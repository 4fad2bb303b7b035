"""A throwaway single-node Slurm cluster for the tests: slurmctld and slurmd from Debian's
``slurm-wlm`` (``tools/install.sh`` installs it), with every file under one folder, free
ports, no munge (``auth/none``) and a ``cpu`` partition without GPUs."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

DAEMONS = ('slurmctld', 'slurmd')
CLIENTS = ('srun', 'sbatch', 'scontrol', 'sinfo')
#: Seconds a requeued job waits before it may start again (Slurm's default is 120).
REQUEUE_DELAY_S = 5  # the least Slurm accepts


def missing_slurm_programs() -> list[str]:
    """The Slurm programs that are not installed."""
    return [name for name in DAEMONS + CLIENTS
            if shutil.which(name) is None and not Path('/usr/sbin', name).exists()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def slurm_conf(folder: Path, node: str, cpus: int) -> str:
    """slurm.conf of a one-node cluster whose state, spool, pid and log files are in
    ``folder``; the node may declare more CPUs than the machine has."""
    return f"""\
ClusterName=emo_mm_test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/none
CredType=cred/none
AuthInfo=cred_expire={REQUEUE_DELAY_S}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_interval=1
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=30
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=cpu Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


class LocalSlurm:
    """Start with :meth:`start`, run clients with :attr:`env`, end with :meth:`stop`."""

    def __init__(self, folder: Path, cpus: int = 4) -> None:
        self.folder = Path(folder)
        self.cpus = cpus
        self.node = socket.gethostname().split('.')[0]
        self.conf = self.folder / 'slurm.conf'
        self.env = {**os.environ, 'SLURM_CONF': str(self.conf)}

    def command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a Slurm client (``scontrol``, ``sinfo``, ...) against this cluster."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, timeout: float = 60) -> None:
        for sub in ('state', 'spool'):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(slurm_conf(self.folder, self.node, self.cpus))
        for daemon in DAEMONS:
            subprocess.run([daemon, '-f', str(self.conf)], env=self.env, check=True,
                           timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.command('sinfo', '-h', '-o', '%T').stdout.strip()
            if state == 'idle':
                return
            time.sleep(0.5)
        raise RuntimeError(f'the test Slurm node did not become idle (sinfo: {state!r}); '
                           f'see {self.folder}/slurmctld.log and slurmd.log')

    def job_field(self, job_id: str, field: str) -> Optional[str]:
        """``field`` (``JobState``, ``Restarts``, ...) of ``scontrol show job``."""
        out = self.command('scontrol', 'show', 'job', job_id).stdout
        for token in out.split():
            if token.startswith(f'{field}='):
                return token[len(field) + 1:]
        return None

    def wait_job(self, job_id: str, timeout: float, states=('COMPLETED', 'FAILED',
                                                            'CANCELLED', 'TIMEOUT')) -> str:
        """Wait until the job reaches one of ``states``; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.job_field(job_id, 'JobState')
            if state in states:
                return state
            time.sleep(0.5)
        self.command('scancel', job_id)
        raise TimeoutError(f'job {job_id} still {state} after {timeout} s (cancelled)')

    def stop(self) -> None:
        """Cancel every job, shut both daemons down (killing them if they linger)."""
        self.command('scancel', '--user', 'root')
        self.command('scontrol', 'shutdown')
        for daemon in DAEMONS:
            pid_file = self.folder / f'{daemon}.pid'
            try:
                pid = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                continue
            for _ in range(40):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.25)
            else:
                os.kill(pid, 9)
