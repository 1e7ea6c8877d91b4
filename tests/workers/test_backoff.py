"""Backoff: exponential with jitter inside the network's bounds; Retry-After first."""

import random
from datetime import datetime, timedelta

from bridge.settings import Retry
from workers import backoff, classify

RETRY = Retry(max_attempts=5, first_delay_s=30, max_delay_s=600, max_age_h=2)


def test_grows_exponentially_within_bounds_with_jitter():
    rng = random.Random(7)
    delays = [backoff.next_delay_s(n, RETRY, rng=rng) for n in range(1, 8)]
    assert delays[0] >= 30 and delays[-1] == 600
    for n, delay in enumerate(delays[:4], start=1):
        base = 30 * 2 ** (n - 1)
        assert 0.8 * base <= delay <= 1.2 * base
    assert len({round(d, 6) for d in delays[:4]}) == 4


def test_retry_after_wins_within_the_maximum():
    assert backoff.next_delay_s(1, RETRY, retry_after_s=90) == 90
    assert backoff.next_delay_s(1, RETRY, retry_after_s=10_000) == 600


def test_dead_after_attempts_or_age():
    start = datetime(2026, 1, 1)
    assert not backoff.out_of_attempts(4, start, start + timedelta(hours=1), RETRY)
    assert backoff.out_of_attempts(5, start, start + timedelta(hours=1), RETRY)
    assert backoff.out_of_attempts(1, start, start + timedelta(hours=2, seconds=1), RETRY)


def test_classification_of_answers():
    assert classify.classify(204, "", {}).status == classify.DELIVERED
    assert classify.classify(503, "", {}).status == classify.RETRYING
    assert classify.classify(408, "", {}).status == classify.RETRYING
    assert classify.classify(429, "", {"Retry-After": "7"}).retry_after_s == 7
    assert classify.classify(404, "", {}).status == classify.PAUSED
    assert classify.classify(422, "bad amount", {}).status == classify.REJECTED
    assert classify.classify(410, "", {}).status == classify.REJECTED
    assert classify.classify_error(TimeoutError("read timed out")).status == classify.RETRYING
