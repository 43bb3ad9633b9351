"""Rate limits (token buckets per key and per tenant) and storage quotas per tenant.

The token bucket is ours (about forty lines) because the maintained limiters on
PyPI (`limits`, `slowapi`) offer fixed and sliding windows, not buckets, and
a bucket is what lets an agent burst briefly without raising its average.
"""

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tenancy.errors import RateLimited

log = logging.getLogger("enclave.limits")


@dataclass(frozen=True)
class Rate:
    """`per_second` tokens refill continuously up to `burst`."""

    per_second: float
    burst: int


class Buckets(Protocol):
    """Takes one token from a named bucket; returns 0.0, or the seconds until one is free."""

    def take(self, name: str, rate: Rate) -> float:
        """Try to take a token."""
        ...


class SharedBuckets(Buckets, Protocol):
    """Buckets kept in a store other processes share, which can fail."""

    def ping(self) -> None:
        """Raise unless the store answers."""
        ...


class MemoryBuckets:
    """Buckets inside this process (the embedded default)."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, rate: Rate) -> float:
        """Refill by elapsed time, then take one token if there is one."""
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._state.get(name, (float(rate.burst), now))
            tokens = min(float(rate.burst), tokens + (now - stamp) * rate.per_second)
            if tokens >= 1.0:
                self._state[name] = (tokens - 1.0, now)
                return 0.0
            self._state[name] = (tokens, now)
            return (1.0 - tokens) / rate.per_second


# Atomic refill-and-take on the Redis server, so that every API process shares
# one bucket. Time comes from Redis itself: process clocks may disagree.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(s[1]) or burst, tonumber(s[2]) or now
tokens = math.min(burst, tokens + (now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets in Redis, shared by every API process."""

    def __init__(self, client: Any, *, prefix: str = "enclave:rl:") -> None:
        self._client = client
        self._script = client.register_script(_TAKE)
        self._prefix = prefix

    @classmethod
    def connect(cls, url: str, *, timeout: float) -> "RedisBuckets":
        """Buckets at `url` whose every call gives up after `timeout` seconds: no retries
        (redis-py's default retries with backoff turned one dead server into seconds of
        waiting per request)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )
        return cls(client)

    def take(self, name: str, rate: Rate) -> float:
        """Run the atomic script."""
        wait = self._script(keys=[self._prefix + name], args=[rate.per_second, rate.burst])
        return float(wait)

    def ping(self) -> None:
        """Raise unless Redis answers."""
        self._client.ping()


class FallbackBuckets:
    """Shared buckets while they answer; in-process ones while they do not.

    A rate limit protects the service; it is no isolation boundary. So when the shared store
    (Redis) fails or is slow (its calls are bounded by a short timeout), requests are not
    refused: each process limits with its own buckets, logs a warning and counts the
    fallback, and tries the shared store again after `retry_s`.
    """

    def __init__(
        self,
        shared: SharedBuckets,
        *,
        retry_s: float = 5.0,
        on_fallback: Callable[[], None] = lambda: None,
    ) -> None:
        self._shared, self._local = shared, MemoryBuckets()
        self._retry_s, self._on_fallback = retry_s, on_fallback
        self._down_until = 0.0
        self._lock = threading.Lock()

    def ping(self) -> None:
        """Raise unless the shared store answers now (bounded by its timeout)."""
        self._shared.ping()

    @property
    def degraded(self) -> bool:
        """Whether the shared store failed lately (limits are per process meanwhile)."""
        return time.monotonic() < self._down_until

    def take(self, name: str, rate: Rate) -> float:
        """The shared bucket's answer, or the local one's when the shared store fails."""
        if not self.degraded:
            try:
                return self._shared.take(name, rate)
            except Exception as exc:  # any failure of the store: unreachable, slow, broken
                self._failed(exc)
        self._on_fallback()
        return self._local.take(name, rate)

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            first = not self.degraded
            self._down_until = time.monotonic() + self._retry_s
        if first:
            log.warning(
                "shared rate limits unavailable (%s); limiting per process for %.0f s",
                type(exc).__name__,
                self._retry_s,
            )


def enforce(buckets: Buckets, limits: dict[str, Rate]) -> None:
    """Take a token from each named bucket; RateLimited with the longest wait if any is empty."""
    waits = [buckets.take(name, rate) for name, rate in limits.items()]
    worst = max(waits, default=0.0)
    if worst > 0:
        raise RateLimited(math.ceil(worst))


@dataclass(frozen=True)
class Quota:
    """Per-tenant storage ceilings (None: unlimited)."""

    max_documents: int | None = None
    max_bytes: int | None = None
    max_chunks: int | None = None
