"""Redis stopped, killed or hung: rate limits fall back per process, no request fails.

A real `redis-server` on a port of its own is started and stopped mid-test; a socket that
accepts connections and never answers stands in for a hung Redis.
"""

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tenancy.limits import FallbackBuckets, Rate, RedisBuckets
from tests.live import free_port

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")

RATE = Rate(per_second=0.01, burst=3)


class RedisProcess:
    """A throwaway redis-server (no persistence) on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = self.client()
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def server() -> Iterator[RedisProcess]:
    running = RedisProcess()
    yield running
    running.kill()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def test_shared_limits_hold_then_fall_back_when_redis_is_killed(server: RedisProcess) -> None:
    fallbacks: list[int] = []
    shared = RedisBuckets.connect(server.url, timeout=0.25)
    buckets = FallbackBuckets(shared, on_fallback=lambda: fallbacks.append(1))
    assert [buckets.take("key:a", RATE) == 0 for _ in range(4)] == [True, True, True, False]
    assert not buckets.degraded
    assert not fallbacks
    server.kill()
    began = time.monotonic()
    waits = [buckets.take("key:a", RATE) for _ in range(4)]
    assert time.monotonic() - began < 2
    assert buckets.degraded
    assert len(fallbacks) == 4
    # Per process now: a fresh local bucket, still a limit.
    assert [w == 0 for w in waits] == [True, True, True, False]
    with pytest.raises(redis.ConnectionError):
        buckets.ping()


def test_a_hung_redis_costs_one_timeout_then_nothing(silent_port: int) -> None:
    shared = RedisBuckets.connect(f"redis://127.0.0.1:{silent_port}/0", timeout=0.2)
    buckets = FallbackBuckets(shared, retry_s=60)
    began = time.monotonic()
    assert buckets.take("key:a", RATE) == 0
    first = time.monotonic() - began
    assert 0.15 < first < 1.5, first
    began = time.monotonic()
    for _ in range(2):
        buckets.take("key:a", RATE)
    assert time.monotonic() - began < 0.05  # no new attempt while it is known to be down
    with pytest.raises(redis.TimeoutError):
        buckets.ping()


def test_the_shared_store_is_used_again_once_it_answers(server: RedisProcess) -> None:
    buckets = FallbackBuckets(RedisBuckets.connect(server.url, timeout=0.25), retry_s=0.1)
    server.kill()
    buckets.take("key:b", RATE)
    assert buckets.degraded
    again = RedisProcess.__new__(RedisProcess)
    again.port = server.port
    again.process = subprocess.Popen(
        ["redis-server", "--port", str(server.port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while buckets.degraded or _down(server):
            assert time.monotonic() < deadline
            time.sleep(0.05)
            buckets.take("key:b", RATE)
        assert not buckets.degraded
        assert server.client().exists("enclave:rl:key:b") == 1  # the shared bucket again
    finally:
        again.kill()


def _down(server: RedisProcess) -> bool:
    try:
        server.client().ping()
    except redis.ConnectionError:
        return True
    return False
