"""What a process holds once started: settings, the database, Redis, the queues, the channels.

The web app (`webhooks.create_app`) and the worker (`tenfour worker`) both call `init()`;
domain code reaches the pieces through `current()`. Channels and the engine client are
built here from settings and can be replaced whole by tests (injected edges, not flags).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
import requests
from rq import Queue

from bot import db
from bot.config import Settings, load_settings
from bot.redis import connect, resolve_redis_url

if TYPE_CHECKING:
    from bot.channels import Channel
    from bot.engine import EngineClient

# Queue names, most urgent first: a worker always drains `turns` before anything else.
TURNS, OUTBOX, DEFAULT = "turns", "outbox", "default"
QUEUE_NAMES = (TURNS, OUTBOX, DEFAULT)


@dataclass
class Runtime:
    settings: Settings
    redis_url: str
    redis: redis.Redis
    queues: dict[str, Queue]
    channels: dict[str, Channel] = field(default_factory=dict)
    engine: EngineClient | None = None
    http: requests.Session = field(default_factory=requests.Session)

    def queue(self, name: str = DEFAULT) -> Queue:
        return self.queues[name]

    def channel(self, name: str) -> Channel:
        return self.channels[name]


_current: Runtime | None = None


def init(settings: Settings | None = None, env: Mapping[str, str] | None = None) -> Runtime:
    """Builds the process's runtime from settings (read from `env` if not given)."""
    global _current
    from bot.channels import build_channels
    from bot.engine import EngineClient

    settings = settings or load_settings(env)
    db.init_engine(settings.database_url)
    redis_url = resolve_redis_url(settings)
    conn = connect(redis_url)
    queues = {name: Queue(name, connection=conn) for name in QUEUE_NAMES}
    rt = Runtime(settings=settings, redis_url=redis_url, redis=conn, queues=queues)
    rt.channels = build_channels(settings, rt.http)
    rt.engine = EngineClient(settings.rasa_url, settings.rasa_token, rt.http)
    _current = rt
    return rt


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("TenFour is not initialised: call bot.runtime.init()")
    return _current


def enqueue(queue: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Enqueues a job after the current transaction committed (callers commit first)."""
    return current().queue(queue).enqueue(func, *args, **kwargs)
