"""Token buckets, in-process and in the real Redis on 127.0.0.1:6379."""

import time
import uuid

import pytest
import redis

from tenancy.errors import RateLimited
from tenancy.limits import Buckets, MemoryBuckets, Rate, RedisBuckets, enforce


def _redis() -> RedisBuckets:
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return RedisBuckets(client, prefix=f"test:{uuid.uuid4().hex}:")


@pytest.fixture(params=["memory", "redis"])
def buckets(request: pytest.FixtureRequest) -> Buckets:
    return MemoryBuckets() if request.param == "memory" else _redis()


def test_a_bucket_admits_its_burst_then_asks_to_wait(buckets: Buckets) -> None:
    rate = Rate(per_second=2.0, burst=3)
    waits = [buckets.take("k", rate) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.3 < waits[3] <= 0.5


def test_tokens_refill_with_time(buckets: Buckets) -> None:
    rate = Rate(per_second=20.0, burst=1)
    assert buckets.take("k", rate) == 0.0
    assert buckets.take("k", rate) > 0
    time.sleep(0.06)
    assert buckets.take("k", rate) == 0.0


def test_buckets_are_independent(buckets: Buckets) -> None:
    rate = Rate(per_second=1.0, burst=1)
    assert buckets.take("a", rate) == 0.0
    assert buckets.take("b", rate) == 0.0
    assert buckets.take("a", rate) > 0


def test_enforce_raises_with_the_longest_wait_rounded_up(buckets: Buckets) -> None:
    slow, fast = Rate(per_second=0.25, burst=1), Rate(per_second=100.0, burst=10)
    enforce(buckets, {"slow": slow, "fast": fast})
    with pytest.raises(RateLimited) as caught:
        enforce(buckets, {"slow": slow, "fast": fast})
    assert caught.value.retry_after == 4
