"""Django's Redis cache, with one Redis client per connection pool instead of a new one per operation.

Django builds a `redis.Redis` for every cache call, and redis-py fills a table of about 170 response
callbacks in each: a measurable share of a cached API request. A client only wraps its pool and is
thread-safe, so one per pool does the same work.
"""

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
