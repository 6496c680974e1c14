"""Redis or PostgreSQL restarting under a running server: clear 503s meanwhile, then recovery.

The server runs on a PostgreSQL and a Redis of this module's own, so they can be stopped and
started again (on the same port, with their data) without touching the session's servers.
While one is down, what needs it answers 503 with ``Retry-After`` (a limited key is refused,
not admitted unchecked); once it is back, the same server process answers 200 again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests import services
from tests.e2e.server import Org, Server, make_org, new_admin_key
from tests.templates import slow, words

HELLO = {
    "model": "template-helpdesk",
    "messages": [{"role": "user", "content": "hello"}],
    "max_tokens": 20,
}
PACED_WORDS = words(20)  # 200 ms apart: Redis is stopped while the answer is generated


class Outage:
    """The server and the two services it depends on."""

    def __init__(self, server: Server, postgres: services.Postgres, redis: services.Redis) -> None:
        self.server = server
        self.postgres = postgres
        self.redis = redis


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    bindir, redis_binary = services.postgres_bindir(), services.redis_binary()
    if bindir is None or redis_binary is None:
        pytest.skip("PostgreSQL or Redis is not installed (sudo make deps)")
    postgres = services.Postgres(bindir).start()
    redis = services.Redis(redis_binary).start()
    root: Path = tmp_path_factory.mktemp("outage")
    server = Server(
        root / "data",
        new_admin_key(),
        AIGC_DATABASE_URL=postgres.url,
        AIGC_REDIS_URL=redis.url,
    )
    try:
        server.start()
        server.register_shared({"template-paced": {"yaml": slow(PACED_WORDS, pace_ms=200)}})
        yield Outage(server, postgres, redis)
    finally:
        server.stop()
        postgres.stop()
        redis.stop()


@pytest.fixture(scope="module")
def org(outage: Outage) -> Org:
    return make_org(outage.server, "Outage Org")


def _limited_key(server: Server, admin_key: str) -> str:
    made = server.api(
        "POST", "/api/keys", key=admin_key, json={"role": "member", "rpm_limit": 1000}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def _chat(server: Server, key: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/v1/chat/completions",
        json=HELLO,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


def test_limited_keys_get_503_while_redis_is_down_and_200_once_it_is_back(
    outage: Outage, org: Org
) -> None:
    """Was: every request of a key with a limit a 500 "server had an error" while Redis
    restarted. Now a 503 the client retries; keys without limits never needed Redis."""
    key = _limited_key(outage.server, org.admin_key)
    assert _chat(outage.server, key).status_code == 200
    outage.redis.halt()
    try:
        refused = _chat(outage.server, key)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "limits_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        assert _chat(outage.server, org.member_key).status_code == 200  # no limit: no Redis
    finally:
        outage.redis.start()
    assert _chat(outage.server, key).status_code == 200


def test_an_answer_admitted_before_redis_went_down_is_delivered(outage: Outage, org: Org) -> None:
    """Was: the answer, generated in full, replaced by a 500 because settling its real token
    count needs Redis. Now the reservation stays charged (the most the request could cost)
    and the answer reaches the caller."""
    key = _limited_key(outage.server, org.admin_key)
    watch = redis.Redis(port=outage.redis.port)
    for pending in watch.scan_iter("aigc:rl:r:*"):  # reservations other tests left unsettled
        watch.delete(pending)
    ask = {"model": "template-paced", "messages": [{"role": "user", "content": "a story"}]}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            httpx.post,
            f"{outage.server.base_url}/v1/chat/completions",
            json=ask,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        while not any(watch.scan_iter("aigc:rl:r:*")):  # admitted: its reservation is made
            assert not answer.done(), answer.result().text
            time.sleep(0.01)
        watch.close()
        outage.redis.halt()
        try:
            done = answer.result()
        finally:
            outage.redis.start()
    assert done.status_code == 200, done.text
    assert done.json()["choices"][0]["message"]["content"].split() == PACED_WORDS.split()


def test_the_api_answers_503_while_postgresql_restarts_and_recovers_without_a_restart(
    outage: Outage, org: Org
) -> None:
    """Was: a 500 for every request that reached the database. The pool's pre-ping replaces
    the dead connections once PostgreSQL is back: the same process answers again."""
    path = "/api/jobs"
    assert outage.server.api("GET", path, key=org.admin_key).status_code == 200
    outage.postgres.halt()
    try:
        down = outage.server.api("GET", path, key=org.admin_key)
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "database_unavailable"
        assert int(down.headers["retry-after"]) >= 1
        ready = httpx.get(f"{outage.server.base_url}/readyz", timeout=30)
        assert ready.status_code == 503
    finally:
        outage.postgres.start()
    for _ in range(3):  # every pooled connection died with the server; each is replaced
        assert outage.server.api("GET", path, key=org.admin_key).status_code == 200
    assert _chat(outage.server, org.member_key).status_code == 200
