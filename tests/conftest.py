"""Shared fixtures: a real database and a real Redis for every test session.

With DATABASE_URL pointing at PostgreSQL, each test session creates its own database on
that server (so parallel runs never collide) and drops it at the end; without it, SQLite
in a temporary folder. With REDIS_URL, each session claims a free Redis database index on
that server; without it, an embedded redis-server. Tables and Redis are emptied between
tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import db
from bot.migrate import upgrade
from bot.redis import EmbeddedRedis
from tests.factories import TWILIO_AUTH_TOKEN

os.environ.setdefault("TENFOUR_EMBEDDED_REDIS_PERSIST", "0")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("DATABASE_URL")
    if not base:
        path = tmp_path_factory.mktemp("db") / "tenfour.sqlite"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    base = base.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"tenfour_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    db.session.remove()
    db.get_engine().dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("REDIS_URL")
    if not base:
        server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False)
        yield server.url
        server.stop()
        return
    # Claim a database index no other test run on this server is using.
    root = redis_lib.Redis.from_url(base)
    claim = f"tenfour-test:{os.getpid()}:{uuid.uuid4().hex}"
    for index in range(1, 16):
        if root.set(f"tenfour-test-db:{index}", claim, nx=True, ex=3 * 3600):
            break
    else:
        pytest.exit("no free Redis database index for tests (1-15 all claimed)")
    url = base.rsplit("/", 1)[0] + f"/{index}" if base.count("/") > 2 else f"{base}/{index}"
    redis_lib.Redis.from_url(url).flushdb()
    yield url
    redis_lib.Redis.from_url(url).flushdb()
    if root.get(f"tenfour-test-db:{index}") == claim.encode():
        root.delete(f"tenfour-test-db:{index}")


@pytest.fixture
def settings_env(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    """Settings by environment-variable name; tests may change them before `app`."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TENFOUR_INSTANCE_PATH": str(tmp_path / "instance"),
        "RASA_URL": "http://127.0.0.1:9",  # no engine unless a test starts one
        "RASA_TOKEN": "test-rasa-token",
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "SMS_BACKEND": "console",
        "CAD_WEBHOOK_SECRET": "test-cad-secret",
        "ADMIN_API_TOKEN": "test-admin-token",
        "TENFOUR_QUIET_HOURS": "off",
    }


@pytest.fixture
def app(settings_env: dict[str, Any]) -> Iterator[Any]:
    from webhooks import create_app

    application = create_app(settings_env)
    application.testing = True
    _empty(settings_env)
    with application.app_context():
        yield application
    db.session.remove()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def twilio_server() -> Iterator[Any]:
    """A Twilio-compatible REST server on loopback (tests/twilio_server.py)."""
    from tests.twilio_server import TwilioTestServer

    with TwilioTestServer() as server:
        yield server


@pytest.fixture
def fake_engine(settings_env: dict[str, Any]) -> Iterator[Any]:
    """A stand-in engine on a loopback port (tests/fake_engine.py); request it before `app`."""
    from tests.fake_engine import FakeEngine

    engine = FakeEngine()
    settings_env["RASA_URL"] = engine.url
    yield engine
    engine.stop()


@pytest.fixture
def run_worker(app: Any) -> Any:
    """Runs queued jobs in this process until the queues are empty (a real RQ worker)."""
    from tests.factories import drain_queues

    return drain_queues


def _empty(env: dict[str, Any]) -> None:
    redis_lib.Redis.from_url(env["REDIS_URL"]).flushdb()
    engine = db.get_engine()
    tables = ("flags", "ratings", "messages", "conversations", "cad_events", "calls", "callers")
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))


# --- the real dialogue engine ---------------------------------------------------------------


class _CurrentApp:
    """WSGI app that forwards to the test's current Flask app (the live server outlives it)."""

    app: Any = None

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app"]
        with self.app.app_context():
            return self.app(environ, start_response)


@pytest.fixture(scope="session")
def live_server() -> Iterator[tuple[str, _CurrentApp]]:
    """A real HTTP server on loopback for the engine's calls to `/rasa/actions`."""
    import threading

    from werkzeug.serving import make_server

    current = _CurrentApp()
    server = make_server("127.0.0.1", 0, current, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", current
    server.shutdown()


@pytest.fixture(scope="session")
def engine(
    live_server: tuple[str, _CurrentApp],
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The real Rasa engine on the trained model (trained here if nlu/ changed)."""
    import subprocess
    import time

    import requests

    from bot import cli
    from bot.redis import _free_port

    if not (cli.ENGINE_VENV / "bin" / "rasa").exists():
        pytest.fail("the engine environment is missing: run scripts/setup (scripts/test does)")
    cli.train_model(quiet=True)
    port = _free_port()
    env = {
        **os.environ,
        **cli.engine_env(redis_url, 0),
        "TENFOUR_ACTIONS_URL": f"{live_server[0]}/rasa/actions",
        "RASA_TOKEN": ENGINE_TOKEN,
    }
    log_path = tmp_path_factory.mktemp("engine") / "engine.log"
    log = open(log_path, "wb")  # noqa: SIM115
    process = subprocess.Popen(
        cli.engine_command(port, ENGINE_TOKEN), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        if process.poll() is not None:
            log.close()
            tail = log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"the engine exited ({process.returncode}):\n{tail}")
        try:
            status = requests.get(f"{url}/status", params={"token": ENGINE_TOKEN}, timeout=2)
            if status.ok and status.json().get("model_file"):
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the engine did not come up within 300 s; its log: {log_path}")
        time.sleep(1)
    yield url
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


ENGINE_TOKEN = "test-rasa-token"


@pytest.fixture
def live_app(
    engine: str, live_server: tuple[str, _CurrentApp], settings_env: dict[str, Any]
) -> Iterator[Any]:
    """The app wired to the real engine, served to it over HTTP; use with `run_worker`."""
    from webhooks import create_app

    settings_env["RASA_URL"] = engine
    settings_env["RASA_TOKEN"] = ENGINE_TOKEN
    application = create_app(settings_env)
    application.testing = True
    _empty(settings_env)
    live_server[1].app = application
    with application.app_context():
        yield application
    live_server[1].app = None
    db.session.remove()


@pytest.fixture
def live_client(live_app: Any) -> Any:
    return live_app.test_client()


@pytest.fixture
def run_live_worker(live_app: Any) -> Any:
    """Drains the queues with a real worker, for the app wired to the engine."""
    from tests.factories import drain_queues

    return drain_queues
