"""The job runner of a process, sized by the settings: slots, and each job's torch threads.

Jobs run side by side in threads of one process, and ``torch.set_num_threads`` is not as global
as its name says. It does three things: sets the calling thread's OpenMP team size, sets the
calling thread's MKL thread count (``mkl_set_num_threads_local``), and stores the number that
threads which have not yet run a torch op take when they first do. The first two are exactly a
per-job budget, as each job runs in a thread of its own; the third would leak a job's budget
into request threads started later, so it is put back at once. Threads that already ran torch
ops (the request thread pool, engine loops) keep their number throughout.

So ``job_slots`` jobs of ``job_threads`` threads each use at most ``job_slots × job_threads``
threads for their torch work (by default the CPUs this process may use, or 3 on 2 CPUs, one of
them usually a niced long job's), and serving keeps its own threads. Not covered:
numpy/OpenBLAS threads (only data loading uses them), torch's inter-op pool (training uses
none), and a thread that a job starts itself (it gets the process default).
"""

from __future__ import annotations

import threading

import torch

from aigc.config import Settings
from aigc.infra.db import Database
from aigc.infra.jobs import JobRunner
from aigc.infra.storage import storage_for


class TorchThreads:
    """Per-thread torch CPU thread limits for job threads; the process default stays put."""

    def __init__(self) -> None:
        # Read once, by the thread that builds the runner (startup): jobs change it only briefly.
        self.process_default = torch.get_num_threads()
        self._lock = threading.Lock()

    def limit_this_thread(self, threads: int) -> None:
        """Torch ops of the calling thread use ``threads`` CPU threads from now on."""
        with self._lock:  # one job at a time changes and restores the stored default
            # Torch sets up a thread's numbers from the stored one at its first call that asks
            # (lazily, once); done now, or that first call would undo the limit below.
            torch.get_num_threads()
            torch.set_num_threads(threads)
            if threads != self.process_default:
                # Only a torch call from another thread sets the stored number back without
                # touching this thread's own settings.
                restore = threading.Thread(
                    target=torch.set_num_threads, args=(self.process_default,), daemon=True
                )
                restore.start()
                restore.join()


def job_runner(db: Database, settings: Settings, worker_id: str) -> JobRunner:
    """This process's runner: ``job_slots`` at once, ``job_cpu_threads`` torch threads each."""
    return JobRunner(
        db,
        settings.data_dir,
        worker_id=worker_id,
        stale_after_s=settings.job_stale_after_s,
        slots=settings.job_slots,
        threads_per_job=settings.job_cpu_threads,
        limit_threads=TorchThreads().limit_this_thread,
        store=storage_for(settings),
    )
