"""A circuit breaker: after repeated failures, stop calling a dead service for a while.

    closed ──(threshold consecutive failures)──▶ open ──(reset_s elapsed)──▶ half-open
      ▲                                                                        │
      └────────────(the one trial call succeeds)───────────────────────────────┘
                   (the trial fails: open again for reset_s)

Thread-safe (upstream calls run in worker threads); a few lines of state, no library needed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum


class State(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    threshold: int = 5
    reset_s: float = 30.0
    state: State = State.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _trial_running: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one trial call at a time."""
        with self._lock:
            if self.state is State.OPEN and time.monotonic() - self.opened_at >= self.reset_s:
                self.state = State.HALF_OPEN
                self._trial_running = False
            if self.state is State.CLOSED:
                return True
            if self.state is State.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self.state = State.CLOSED
            self.failures = 0
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state is State.HALF_OPEN or self.failures >= self.threshold:
                self.state = State.OPEN
                self.opened_at = time.monotonic()
                self._trial_running = False

    def retry_after_s(self) -> float:
        """Seconds until the next trial call is allowed (0 when calls may go out)."""
        with self._lock:
            if self.state is not State.OPEN:
                return 0.0
            return max(0.0, self.reset_s - (time.monotonic() - self.opened_at))


class BreakerBoard:
    """One breaker per upstream address and setting, shared by every model that calls it.

    The settings are part of the key: a model registered (or re-registered) with another
    threshold or reset time gets a breaker that keeps them, instead of the one some earlier
    caller of that address (or a status view, with the defaults) happened to create first.
    So are the caller's ``timeouts``: a timeout is a failure only by the caller's own measure,
    and an organization that registered the platform's upstream address with a 0.1 s timeout
    opened the circuit of the platform's model on it for everyone while the service was well.
    """

    def __init__(self) -> None:
        self._breakers: dict[tuple[str, int, float, tuple[float, ...]], CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(
        self,
        address: str,
        threshold: int = 5,
        reset_s: float = 30.0,
        timeouts: tuple[float, ...] = (),
    ) -> CircuitBreaker:
        key = (address, int(threshold), float(reset_s), tuple(float(t) for t in timeouts))
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None:
                breaker = self._breakers[key] = CircuitBreaker(key[1], key[2])
            return breaker
