"""The job runner of a process, sized by the settings: slots, and each job's torch threads.

Jobs run side by side in threads of one process; each job's thread gets its torch thread budget
as its own (``models/torch_threads.py``: ``torch.set_num_threads`` alone would hand it to
threads started later). Threads that already ran torch ops (the request thread pool, engine
loops) keep their number throughout.

So ``job_slots`` jobs of ``job_threads`` threads each use at most ``job_slots × job_threads``
threads for their torch work (by default the CPUs this process may use, or 3 on 2 CPUs, one of
them usually a niced long job's), and serving keeps its own threads. Not covered:
numpy/OpenBLAS threads (only data loading uses them), torch's inter-op pool (training uses
none), and a thread that a job starts itself (it gets the process default).
"""

from __future__ import annotations

from aigc.config import Settings
from aigc.infra.db import Database
from aigc.infra.jobs import JobRunner
from aigc.infra.storage import storage_for
from aigc.models.torch_threads import TorchThreads


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
