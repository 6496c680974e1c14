"""Models on Ray Serve: one Serve application per model, reached through deployment handles.

With ``AIGC_RAY_ADDRESS`` set, the registry hands the gateway a ``RayTextModel`` instead of a
model loaded in its own process. What runs where:

* the **replica** (``ModelServer``, a Ray actor on any node of the cluster) loads the model from
  its record exactly as the in-process registry does (``registry.loader_for``), counts prompts
  with the model's tokenizer, and streams ``(text, tokens, finish_reason)`` triples;
* the **gateway** keeps everything else of the request path: authentication, limits, its own
  queue gate, the guard, stop sequences and ``max_tokens`` (``stopping.BoundedText``), usage,
  audit and metrics, so a Ray-served model behaves to callers as an in-process one.

Errors keep their meaning across the hop: Serve's bounded queue (``max_queued_requests``)
refuses with ``BackPressureError``, answered 503 + Retry-After; a replica that dies before the
first piece is retried once on another replica, after it the stream ends with a retryable
``replica_unavailable`` error (503). A client that hangs up cancels the Serve request, which
raises ``CancelledError`` in the replica and closes the model's stream there.

Not served on Ray: response_format/guided decoding and function calling (their grammar
processors are built against a tokenizer the gateway does not hold: a 400, as for any model
that cannot take them), logprobs, and image models (they stay in-process).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast

import ray
from ray import serve
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
from ray.serve.deployment import Deployment
from ray.serve.exceptions import BackPressureError
from sqlalchemy import select

from aigc import __version__ as aigc_version
from aigc.config import Settings
from aigc.errors import Overloaded, refused
from aigc.infra.db import Database
from aigc.infra.schema import ModelRecord
from aigc.infra.storage import storage_for
from aigc.models.base import INLINE_MAX_CHARS, TextModelBase, request_chars
from aigc.models.family import get_family, load_families
from aigc.models.prompt_tokens import count_prompt_tokens
from aigc.models.protocols import AsyncTextModel, TextModel, TextRequest
from aigc.models.registry import loader_for, stored_config
from aigc.models.stopping import CountedText, Ended

log = logging.getLogger("aigc.ray")

# What a Ray-served model cannot honour: these need the model's tokenizer in the gateway
# (grammars) or per-token data the stream does not carry.
NOT_REMOTE = frozenset({"tools", "logprobs", "top_logprobs", "logits_processors"})
# A replica that went away: the request may be sent again.
LOST = (RayActorError, ActorDiedError, ActorUnavailableError)
RETRY_AFTER = {"Retry-After": "1"}

Piece = tuple[str, int, str | None]  # text, the tokens that made it, why the stream ended


class ReplicaLost(Overloaded):
    """The replica serving the request died; another one (or its restart) will answer."""

    code = "replica_unavailable"


def app_name(record: ModelRecord) -> str:
    """The Serve application of one model record: readable (its id) and unique (two tenants
    may both own a model of one name)."""
    return f"{record.name}--{record.id}"


# What every model replica runs with: no access-log line per request (always: the gateway
# keeps the access log, the audit and the metrics of every request), and, unless the model's
# own ``runtime_env.env_vars`` say otherwise, the model's code on the replica's own event loop
# rather than on a second loop in a second thread (one thread hop less each way). Measured on
# one Ray head, requests alternating between three replicas that differ only in these:
# 0.5-0.7 ms p50 and ~0.6 ms of replica CPU less per call (bench/README.md, ``scale_ray.py``).
REPLICA_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}
REPLICA_LOGGING = {"enable_access_log": False}


def serve_options(options: dict[str, Any]) -> dict[str, Any]:
    """A model's deployment options as ``serve.deployment`` takes them, with the replica
    settings above (an ``env_vars`` entry of the operator's wins over ours)."""
    actor = dict(options.get("ray_actor_options") or {})
    runtime_env = dict(actor.get("runtime_env") or {})
    runtime_env["env_vars"] = REPLICA_ENV | dict(runtime_env.get("env_vars") or {})
    actor["runtime_env"] = runtime_env
    return options | {"ray_actor_options": actor, "logging_config": dict(REPLICA_LOGGING)}


def code_version(
    family: str, config: dict[str, Any], options: dict[str, Any], settings: Settings
) -> str:
    """What a model's application is made of. Serve gives every ``serve.run`` a new random
    version (and rolls the replicas); with this, a gateway (re)start or a second instance
    runs ``serve.run`` only when something changed."""
    made_of = [aigc_version, family, config, options, settings.family_modules]
    text = json.dumps(made_of, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the replica ------------------------------------------------------------------------------


class ModelServer:
    """The body of one model's deployment: the model loaded in the replica, streaming."""

    def __init__(
        self,
        family: str,
        name: str,
        config: dict[str, Any],
        family_modules: list[str],
        version: str = "",
    ) -> None:
        load_families(family_modules)
        if isinstance(config.get("storage"), dict):  # a trained model: its folder in the store
            here = Settings()  # this node's: the same AIGC_STORAGE_* as the gateways'
            config = stored_config(config, storage_for(here), here.data_dir / "cache")
        self.name = name
        self.version = version
        self.model: TextModel = loader_for(family, name, config)(config)
        self.replica = f"{os.getpid()}"
        self.active = 0
        self.cancelled = 0
        self.requests = 0
        self.counts = 0  # counting calls (each a round trip from a gateway)
        # Serve runs a replica's plain methods on a thread pool: the counter is shared (the
        # GIL happens to make ``+=`` safe on CPython 3.11; a free-threaded build would not).
        self._counting = threading.Lock()

    def info(self) -> dict[str, Any]:
        """What the gateway's ``RayTextModel`` declares (the model's own declarations)."""
        model = self.model
        return {
            "context_length": model.context_length,
            "slides_window": bool(getattr(model, "slides_window", False)),
            "decoding_fields": sorted(set(model.decoding_fields) - NOT_REMOTE),
            "takes_images": model.takes_images,
            "needs_images": model.needs_images,
            "reads_sources": model.reads_sources,
            "version": self.version,
        }

    def stats(self) -> dict[str, Any]:
        """This replica's counters: which replica, requests running, cancelled, seen, and
        the counting calls it answered."""
        return {
            "replica": self.replica,
            "active": self.active,
            "cancelled": self.cancelled,
            "requests": self.requests,
            "counts": self.counts,
        }

    def count_tokens(self, text: str) -> int:
        self._counted()
        return self.model.count_tokens(text)

    def count_texts(self, texts: list[str]) -> list[int]:
        self._counted()
        return [self.model.count_tokens(t) for t in texts]

    def count_prompts(self, requests: list[TextRequest]) -> list[int]:
        self._counted()
        return [count_prompt_tokens(self.model, r) for r in requests]

    def _counted(self) -> None:
        with self._counting:
            self.counts += 1

    def _piece(self, piece: str) -> Piece:
        reason = getattr(piece, "finish_reason", None)
        tokens = getattr(piece, "token_count", None)
        if tokens is None:
            tokens = self.model.count_tokens(piece) if piece else 0
        return str(piece), tokens, reason

    async def generate(self, request: TextRequest) -> AsyncIterator[list[Piece]]:
        """The model's pieces as plain triples, sent in batches: whatever the model has made
        since the last send goes in one message (a message per token cost a round trip
        each). A cancelled request (the client left) raises ``CancelledError`` here, which
        stops the model's own stream."""
        self.active += 1
        self.requests += 1
        try:
            if self.model.runs_inline and request_chars(request) <= INLINE_MAX_CHARS:
                # Microseconds of pure CPU (the gateway runs these on its loop too): the
                # whole answer in one message, no worker thread, no reader task.
                yield [self._piece(p) for p in self.model.generate(request)]
                return
            if isinstance(self.model, AsyncTextModel):
                pieces: AsyncIterator[str] = self.model.agenerate(request)
            else:
                pieces = _in_thread(self.model.generate(request))
            async for batch in _batches(pieces):
                yield [self._piece(p) for p in batch]
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1


_DONE = object()


async def _batches(pieces: AsyncIterator[str]) -> AsyncIterator[list[str]]:
    """The pieces in lists: each list holds every piece ready when the reader asks. A task
    reads ``pieces`` ahead into a queue; closing this closes it (and so ``pieces``)."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def read() -> None:
        try:
            async for piece in pieces:
                queue.put_nowait(piece)
        except Exception as exc:  # handed to the reader, raised there
            queue.put_nowait(exc)
        finally:
            queue.put_nowait(_DONE)

    reader = asyncio.create_task(read())
    try:
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            ended = batch[-1] is _DONE
            if ended:
                batch.pop()
            failed = next((p for p in batch if isinstance(p, Exception)), None)
            if failed is not None:
                raise failed
            if batch:
                yield batch
            if ended:
                return
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        with contextlib.suppress(Exception):
            await pieces.aclose()  # type: ignore[attr-defined]


async def _in_thread(pieces: Iterator[str]) -> AsyncIterator[str]:
    """A blocking iterator read in one worker thread, its pieces handed to the loop as they
    come; when the reader stops early the thread stops at the next piece and closes it."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            for piece in pieces:
                loop.call_soon_threadsafe(queue.put_nowait, piece)
                if stop.is_set():
                    break
        except Exception as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    worker = loop.run_in_executor(None, run)
    try:
        while (piece := await queue.get()) is not _DONE:
            if isinstance(piece, Exception):
                raise piece
            yield piece
    finally:
        stop.set()
        worker.add_done_callback(lambda _: None)  # the thread ends on its own at the next piece


# --- the gateway's side -----------------------------------------------------------------------


class RayTextModel(TextModelBase):
    """A text model served by a Serve application, spoken to through its deployment handle."""

    refuses_on_submit = True  # Serve's queue refuses when a request is sent (BackPressureError)
    counts_elsewhere = True  # the tokenizer is in the replica

    def __init__(self, handle: Any, info: dict[str, Any], app: str) -> None:
        # By value: requests and pieces go straight to the replica over its gRPC channel,
        # not through Ray's object store (two object-store round trips per call by
        # reference). On 2 cores this halves what a call costs: a no-op streamed call
        # 2.8 ms p50 by value, 6.7 ms by reference (bench/README.md, scale_ray.py).
        self.handle = handle.options(_by_reference=False)
        self.app = app
        self.context_length = info["context_length"]
        self.slides_window = bool(info.get("slides_window", False))
        self.decoding_fields = frozenset(info["decoding_fields"])
        self.takes_images = bool(info["takes_images"])
        self.needs_images = bool(info["needs_images"])
        self.reads_sources = bool(info["reads_sources"])

    def footprint(self) -> tuple[str, int]:
        return "ray", 0  # its weights are in the replicas, not in this process

    def status(self) -> dict[str, Any]:
        """The application's replicas by state (``RUNNING``, ``STARTING``...)."""
        return {"ray": {"application": self.app, "replicas": replica_states(self.app)}}

    def count_tokens(self, text: str) -> int:
        """Blocking (a worker thread's call: grounding fits sources with it)."""
        return int(self.handle.count_tokens.remote(text).result(timeout_s=60))

    def count_texts(self, texts: Sequence[str]) -> list[int]:
        """Every text in one round trip (blocking, as ``count_tokens``)."""
        counted = self.handle.count_texts.remote(list(texts)).result(timeout_s=60)
        return [int(n) for n in counted]

    async def acount_prompts(self, requests: Sequence[TextRequest]) -> list[int]:
        try:
            return [int(n) for n in await self.handle.count_prompts.remote(list(requests))]
        except BackPressureError:
            raise _overloaded() from None
        except LOST:
            raise _lost() from None

    def agenerate(self, request: TextRequest) -> AsyncIterator[str]:
        return self._astream(request)

    async def _astream(self, request: TextRequest) -> AsyncIterator[str]:
        for attempt in range(2):
            stream = self.handle.options(stream=True).generate.remote(request)
            with _one_try(self.app, stream, last=attempt == 1) as sent:
                async for batch in stream:
                    sent.set()
                    for text, tokens, reason in batch:
                        yield _text(text, tokens, reason)
                return

    def generate(self, request: TextRequest) -> Iterator[str]:
        """The same stream for a reader in a worker thread (non-streaming answers)."""
        for attempt in range(2):
            stream = self.handle.options(stream=True).generate.remote(request)
            with _one_try(self.app, stream, last=attempt == 1) as sent:
                for batch in stream:
                    sent.set()
                    for text, tokens, reason in batch:
                        yield _text(text, tokens, reason)
                return


class _Sent:
    """Whether a try of a stream has passed a piece to its reader (then it is never resent)."""

    def __init__(self) -> None:
        self.value = False

    def set(self) -> None:
        self.value = True


@contextlib.contextmanager
def _one_try(app: str, stream: Any, last: bool) -> Iterator[_Sent]:
    """One try of reading a Serve stream, for the async and the thread reader alike.

    Full replicas are a 503. A replica lost before any piece reached the reader is swallowed,
    so the caller's loop sends the request again, unless this was the ``last`` try; lost after
    a piece it is a 503 (a half answer is never stitched to another). A reader that leaves
    early (the client hung up: ``GeneratorExit`` or a cancelled task) cancels the request in
    the replica.
    """
    sent = _Sent()
    ended = False
    try:
        yield sent
        ended = True
    except BackPressureError:
        ended = True
        raise _overloaded() from None
    except LOST as exc:
        ended = True
        if sent.value or last:
            log.warning("replica of %s lost mid-stream: %s", app, type(exc).__name__)
            raise _lost() from None
        log.info("replica of %s lost before the first piece: sent again", app)
    finally:
        if not ended:  # the reader left early (the client hung up): stop the replica
            _cancel(stream)


def _cancel(stream: Any) -> None:
    """Cancel a Serve request the reader left (the replica gets ``CancelledError``). Its
    failure is not the reader's: the request may have failed or ended meanwhile."""
    try:
        stream.cancel()
    except Exception as exc:
        log.debug("cancelling a Serve request: %s", type(exc).__name__)


def _text(text: str, tokens: int, reason: str | None) -> str:
    """A wire triple as the piece the model yielded, its token count known (the gateway
    never re-tokenizes: that would be a round trip to the replica per piece)."""
    if reason is None:
        return CountedText(text, tokens)
    ended = Ended(reason)
    ended.token_count = tokens  # type: ignore[attr-defined]
    return ended


def _overloaded() -> Overloaded:
    return Overloaded(
        "The model's replicas are busy and its queue is full; try again shortly",
        code="model_overloaded",
        headers=RETRY_AFTER,
    )


def _lost() -> ReplicaLost:
    return refused(
        ReplicaLost,
        "replica_lost",
        "The replica serving this model stopped; try again (another replica answers)",
        headers=RETRY_AFTER,
    )


def _version(handle: Any) -> str:
    return str(handle.info.remote().result(timeout_s=120)["version"])


def replica_states(app: str) -> dict[str, int]:
    """Replicas of the application's deployments, by state."""
    status = serve.status().applications.get(app)
    counts: dict[str, int] = {}
    if status is None:
        return counts
    for deployment in status.deployments.values():
        for state, count in deployment.replica_states.items():
            key = str(getattr(state, "value", state))
            counts[key] = counts.get(key, 0) + count
    return counts


class RayServing:
    """This gateway's link to the Ray cluster: connects once, deploys models (``serve.run``,
    one application per model, no HTTP route), and hands out ``RayTextModel``s."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._connected = False

    def connect(self) -> None:
        with self._lock:
            if self._connected:
                return
            ray.init(
                address=self.settings.ray_address,
                namespace=self.settings.ray_namespace,
                ignore_reinit_error=True,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
            serve.start(proxy_location="Disabled")  # handles only: the gateway is the door
            self._connected = True

    def serves(self, record: ModelRecord) -> bool:
        """Text models that compute on this platform's machines (not upstreams, not images)."""
        family = get_family(record.family)
        return family is not None and family.kind == "text" and family.computes_here

    def deploy(self, record: ModelRecord) -> Any:
        """Start or update the model's application and wait until it runs; its handle."""
        self.connect()
        config = dict(record.config or {})
        own = config.pop("deployment", None)
        options = self.settings.deployment_options(record.name, own)
        shown = serve_options(options.model_dump(exclude_none=True))
        version = code_version(record.family, config, shown, self.settings)
        name = app_name(record)
        running = self._running(name)
        if (
            running is not None
            and running.info.remote().result(timeout_s=120)["version"] == version
        ):
            return running  # as wanted already: serve.run would roll its replicas for nothing
        deployment = cast(Deployment, serve.deployment(ModelServer)).options(name="model", **shown)
        app = deployment.bind(
            record.family, record.name, config, self.settings.family_modules, version
        )
        log.info("deploying %s on Ray Serve (%s)", name, shown)
        return serve.run(app, name=name, route_prefix=None, blocking=False)

    @staticmethod
    def _running(name: str) -> Any | None:
        if not replica_states(name).get("RUNNING"):
            return None
        return serve.get_app_handle(name)

    def load(self, record: ModelRecord) -> RayTextModel:
        """The application's handle, deployed or updated first when it is not as wanted."""
        handle = self.deploy(record)
        info = handle.info.remote().result(timeout_s=120)
        return RayTextModel(handle, info, app_name(record))

    def undeploy(self, record: ModelRecord) -> None:
        self.connect()
        serve.delete(app_name(record), _blocking=False)

    def deploy_all(self, db: Database) -> list[str]:
        """``aigc serve`` at start: every ready model this serves, started or updated (a
        blocking call: each waits until its replicas run)."""
        names = []
        with db.session() as session:
            for record in session.scalars(select(ModelRecord).order_by(ModelRecord.name)):
                if record.status == "ready" and self.serves(record):
                    self.deploy(record)
                    names.append(app_name(record))
        return names
