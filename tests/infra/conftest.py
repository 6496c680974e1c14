"""Fixtures of the job tests: a clean handler registry and runners stopped after each test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aigc.infra import jobs
from aigc.infra.db import Database
from aigc.infra.jobs import JobRunner
from aigc.infra.storage import BlobStore, DirectoryStore, storage_for
from tests.s3_server import make_bucket, s3_settings


@pytest.fixture
def handlers() -> Iterator[None]:
    """Each test registers its own handlers; the registry is restored afterwards."""
    saved, saved_long = dict(jobs.HANDLERS), set(jobs.LONG_KINDS)
    saved_access = dict(jobs.ACCESS)
    jobs.HANDLERS.clear()
    jobs.LONG_KINDS.clear()
    jobs.ACCESS.clear()
    yield
    jobs.HANDLERS.clear()
    jobs.HANDLERS.update(saved)
    jobs.LONG_KINDS.clear()
    jobs.LONG_KINDS.update(saved_long)
    jobs.ACCESS.clear()
    jobs.ACCESS.update(saved_access)


@pytest.fixture
def runners(tenant_db: Database, tmp_path: Path) -> Iterator[Callable[..., JobRunner]]:
    """Make runners that are stopped at the end of the test, whatever happens."""
    made: list[JobRunner] = []

    def make(name: str = "w1", **kwargs: Any) -> JobRunner:
        kwargs.setdefault("poll_interval_s", 0.02)
        runner = JobRunner(tenant_db, tmp_path / "data", worker_id=name, **kwargs)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.stop(10)


MIB = 1024 * 1024


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The blob store, once a directory and once S3 (a fresh bucket on moto, under a prefix):
    the storage tests hold for both backends."""
    if request.param == "directory":
        return DirectoryStore(tmp_path / "store")
    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = f"b-{os.urandom(4).hex()}"
    make_bucket(endpoint, bucket)
    s3 = storage_for(s3_settings(tmp_path / "unused", endpoint, bucket, prefix="aigc/"))
    # small parts, so a big object really goes through a multipart upload
    s3.transfer.multipart_threshold = s3.transfer.multipart_chunksize = 5 * MIB  # type: ignore[attr-defined]
    return s3
