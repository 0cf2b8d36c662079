"""One upstream rate limit for every worker, kept in Redis.

Algorithm: a sliding one-second log. Each call adds its start time (Redis's own clock, so workers'
clocks do not matter) to a sorted set after dropping entries older than a second; a call is allowed
while the set holds fewer than UPSTREAM_MAX_RPS entries, otherwise it waits until the oldest entry
is a second old. So no one-second window, wherever it starts, holds more than UPSTREAM_MAX_RPS calls.
The same script honours the shared pause: a `Retry-After` answer sets "paused until" (never earlier
than a pause already set), and every worker's calls wait for it.

Without Redis (`make run` on SQLite, or Redis down) the same log is kept in this process only.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

LOG_KEY = "upstream:calls"
PAUSE_KEY = "upstream:paused-until"

# KEYS: the log, the pause. ARGV: the limit, a unique member. Returns {microseconds to wait, 0}, or
# {0, the grant's time in microseconds} when the call may go.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return {paused - now, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000000)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 2000)
  return {0, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {math.max(1, tonumber(oldest[2]) + 1000000 - now), 0}
"""
# KEYS: the pause. ARGV: seconds. Moves "paused until" later, never earlier.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + math.floor(tonumber(ARGV[1]) * 1000000)
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], until_, 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return until_
"""


class Paused(Exception):
    """The upstream may not be called within the time this call has left."""

    def __init__(self, wait: float):
        super().__init__(f"upstream calls paused or rate-limited for {wait:.1f} s more")
        self.wait = wait


class _LocalLog:
    """The same algorithm for one process (no Redis)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: deque[float] = deque()
        self.paused_until = 0.0

    def acquire(self, limit: int) -> tuple[float, datetime | None]:
        with self.lock:
            now = time.monotonic()
            if self.paused_until > now:
                return self.paused_until - now, None
            while self.calls and self.calls[0] <= now - 1:
                self.calls.popleft()
            if len(self.calls) < limit:
                self.calls.append(now)
                return 0.0, datetime.now(UTC)
            return max(0.001, self.calls[0] + 1 - now), None

    def pause(self, seconds: float) -> None:
        with self.lock:
            self.paused_until = max(self.paused_until, time.monotonic() + seconds)


_local = _LocalLog()
_redis_lock = threading.Lock()
_redis: dict[str, redis.Redis] = {}


def _client() -> redis.Redis | None:
    url = settings.REDIS_URL
    if not url:
        return None
    with _redis_lock:
        if url not in _redis:
            # Short timeouts: a Redis that is away costs a call a fraction of a second, then the local log.
            _redis[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        return _redis[url]


def _key(name: str) -> str:
    prefix = settings.UPSTREAM_RATE_KEY_PREFIX
    return f"{prefix}:{name}" if prefix else name


def _try_acquire() -> tuple[float, datetime | None]:
    """(seconds to wait, None), or (0, when the call was let go)."""
    limit = settings.UPSTREAM_MAX_RPS
    client = _client()
    if client is not None:
        try:
            wait_us, granted_us = client.eval(_ACQUIRE, 2, _key(LOG_KEY), _key(PAUSE_KEY), limit, uuid.uuid4().hex)
            granted = datetime.fromtimestamp(int(granted_us) / 1_000_000, UTC) if int(granted_us) else None
            return int(wait_us) / 1_000_000, granted
        except redis.RedisError:
            logger.warning("upstream rate limit: Redis unavailable, limiting this process only", exc_info=True)
    return _local.acquire(limit)


def acquire(deadline: float | None = None) -> datetime:
    """Wait until this process may call the upstream and return when it was let go (by Redis's clock,
    which every worker shares: the call log's start of the call); raises Paused when that is past
    `deadline` (a time.monotonic() value)."""
    while True:
        wait, granted = _try_acquire()
        if granted is not None:
            return granted
        if deadline is not None and time.monotonic() + wait > deadline:
            raise Paused(wait)
        time.sleep(wait)  # the rate limit itself: waiting is what it is for


def pause(seconds: float) -> None:
    """Hold every worker's upstream calls for `seconds` (an upstream's Retry-After)."""
    if seconds <= 0:
        return
    client = _client()
    if client is not None:
        try:
            client.eval(_PAUSE, 1, _key(PAUSE_KEY), seconds)
            return
        except redis.RedisError:
            logger.warning("upstream pause: Redis unavailable, pausing this process only", exc_info=True)
    _local.pause(seconds)
