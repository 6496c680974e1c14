"""SingleFlight: one run per key at a time; callers that arrive meanwhile wait for it."""

from __future__ import annotations

import asyncio

import pytest

from aigc.infra.single_flight import SingleFlight


def test_a_burst_runs_the_job_once_and_everyone_waits_for_it() -> None:
    async def main() -> tuple[list[bool], int, list[bool]]:
        flight, runs, release = SingleFlight(), [0], asyncio.Event()
        done_before_release: list[bool] = []

        async def job() -> None:
            runs[0] += 1
            await release.wait()

        async def caller() -> bool:
            ran = await flight.run("k", job)
            done_before_release.append(not release.is_set())
            return ran

        tasks = [asyncio.create_task(caller()) for _ in range(50)]
        await asyncio.sleep(0.01)  # all fifty are in: one runs the job, 49 wait on it
        release.set()
        return list(await asyncio.gather(*tasks)), runs[0], done_before_release

    ran, runs, early = asyncio.run(main())
    assert runs == 1
    assert ran.count(True) == 1 and ran.count(False) == 49
    assert not any(early)  # nobody went on before the job had finished


def test_other_keys_do_not_wait_and_a_later_call_runs_again() -> None:
    async def main() -> list[str]:
        flight, order = SingleFlight(), []

        async def job(name: str) -> None:
            await asyncio.sleep(0)
            order.append(name)

        await asyncio.gather(flight.run("a", lambda: job("a")), flight.run("b", lambda: job("b")))
        await flight.run("a", lambda: job("a again"))  # the first run is over: a new one
        return order

    assert sorted(asyncio.run(main())) == ["a", "a again", "b"]


def test_a_failing_job_raises_for_its_runner_only() -> None:
    async def main() -> tuple[BaseException | bool, bool]:
        flight, gate = SingleFlight(), asyncio.Event()

        async def failing() -> None:
            await gate.wait()
            raise RuntimeError("database down")

        async def never() -> None:
            raise AssertionError("a waiter must not run the job")

        leader = asyncio.create_task(flight.run("k", failing))
        await asyncio.sleep(0)
        follower = asyncio.create_task(flight.run("k", never))
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(leader, follower, return_exceptions=True)
        return results[0], bool(results[1])

    error, follower_ran = asyncio.run(main())
    assert isinstance(error, RuntimeError)
    assert follower_ran is False  # it waited, then checks for the result itself


def test_a_cancelled_waiter_leaves_the_job_running() -> None:
    async def main() -> int:
        flight, gate, runs = SingleFlight(), asyncio.Event(), [0]

        async def job() -> None:
            await gate.wait()
            runs[0] += 1

        leader = asyncio.create_task(flight.run("k", job))
        await asyncio.sleep(0)
        waiter = asyncio.create_task(flight.run("k", job))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        gate.set()
        assert await leader is True
        return runs[0]

    assert asyncio.run(main()) == 1


def test_get_or_load_reads_the_cache_then_loads_once_for_a_burst() -> None:
    async def main() -> tuple[list[str], int]:
        flight, cache, loads = SingleFlight(), {}, [0]

        async def load() -> str:
            loads[0] += 1
            await asyncio.sleep(0.01)
            cache["k"] = "value"
            return "value"

        got = await asyncio.gather(
            *(flight.get_or_load("k", lambda: cache.get("k"), load) for _ in range(20))
        )
        again = await flight.get_or_load("k", lambda: cache.get("k"), load)  # a hit: no load
        return [*got, again], loads[0]

    values, loads = asyncio.run(main())
    assert values == ["value"] * 21
    assert loads == 1
