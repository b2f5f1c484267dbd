"""The embedded Redis is a real redis-server."""

from __future__ import annotations

import redis

from bot.redis import EmbeddedRedis


def test_embedded_redis_serves_and_stops(tmp_path):
    server = EmbeddedRedis(tmp_path, persist=False)
    client = redis.Redis.from_url(server.url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.info("server")["redis_version"].startswith("6.")
    server.stop()
    assert server.process.poll() is not None
