"""Celery's Redis transport, publishing through one redis-py client per channel.

kombu's Redis channel builds a new redis-py client for every message it publishes (and redis-py
fills each new client's table of response callbacks): about a fifth of the CPU of sending a task.
A client is only a handle on the channel's connection pool, so one per channel (and per pool, should
the channel replace its pool) does the same work. Consuming (BRPOP) keeps kombu's own clients.

Registered for redis:// broker URLs in portal/celery.py (rediss:// keeps kombu's own).
"""

from kombu.transport import redis


class Channel(redis.Channel):
    _publish_client = None  # (the pool it was made for, the client)

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        made = self._publish_client
        if made is None or made[0] is not pool:
            made = self._publish_client = (pool, super()._create_client())
        return made[1]


class Transport(redis.Transport):
    Channel = Channel
