"""`tenfour`: everything an operator does from a shell."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from bot.config import PROJECT_ROOT, ConfigError, Settings, load_settings

NLU_DIR = PROJECT_ROOT / "nlu"
MODELS_DIR = PROJECT_ROOT / "models"
KEEP_MODELS = 2
ENGINE_VENV = Path(os.environ.get("TENFOUR_ENGINE_VENV", PROJECT_ROOT / ".venv-engine"))


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc


@click.group()
def main() -> None:
    """TenFour: texts callers about their call to the police, and lets them talk back."""


# --- database ---------------------------------------------------------------------------


@main.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Applies every migration (the Procfile's release step)."""
    from bot.migrate import upgrade

    settings = _settings_or_exit()
    upgrade(settings.database_url)
    click.echo("database is at the latest migration")


# --- worker -------------------------------------------------------------------------------


@main.command()
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
def worker(burst: bool) -> None:
    """Runs a worker: turns, outbox, timers (with the RQ scheduler)."""
    from bot import logs, runtime
    from bot.jobs import run_worker

    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    runtime.init(_settings_or_exit())
    run_worker(burst=burst)


# --- the dialogue engine ------------------------------------------------------------------


def engine_env(redis_url: str, settings_port: int) -> dict[str, str]:
    """The variables `nlu/endpoints.yml` reads: the app's action URL and Redis's address."""
    parts = urlsplit(redis_url)
    db_index = (parts.path or "/0").lstrip("/") or "0"
    return {
        "TENFOUR_ACTIONS_URL": os.environ.get(
            "TENFOUR_ACTIONS_URL", f"http://127.0.0.1:{settings_port}/rasa/actions"
        ),
        "TENFOUR_ENGINE_REDIS_HOST": parts.hostname or "127.0.0.1",
        "TENFOUR_ENGINE_REDIS_PORT": str(parts.port or 6379),
        "TENFOUR_ENGINE_REDIS_DB": db_index,
        "TENFOUR_ENGINE_REDIS_PASSWORD": parts.password or "",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
    }


def engine_command(port: int, token: str) -> list[str]:
    return [
        str(ENGINE_VENV / "bin" / "rasa"), "run",
        "--enable-api",
        f"--auth-token={token}",  # one argument: a token may start with "-"
        "--model", str(MODELS_DIR),
        "--endpoints", str(NLU_DIR / "endpoints.yml"),
        "--credentials", str(NLU_DIR / "credentials.yml"),
        "--interface", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip


def _require_engine_venv() -> None:
    if not (ENGINE_VENV / "bin" / "rasa").exists():
        raise click.ClickException("the engine environment is missing: run scripts/setup")


@main.command()
def engine() -> None:
    """Runs the dialogue engine: `rasa run --enable-api` on the trained model."""
    from bot.redis import resolve_redis_url

    _require_engine_venv()
    settings = _settings_or_exit()
    port = urlsplit(settings.rasa_url).port or 5005
    env = {**os.environ, **engine_env(resolve_redis_url(settings), settings.port)}
    cmd = engine_command(port, settings.rasa_token)
    os.execve(cmd[0], cmd, env)


def train_model(force: bool = False, quiet: bool = False) -> Path:
    """Trains the model when the training data changed (Rasa's fingerprint decides)."""
    _require_engine_venv()
    cmd = [
        str(ENGINE_VENV / "bin" / "rasa"), "train",
        "--config", str(NLU_DIR / "config.yml"),
        "--domain", str(NLU_DIR / "domain.yml"),
        "--data", str(NLU_DIR / "data"),
        "--out", str(MODELS_DIR),
    ]  # fmt: skip
    if force:
        cmd.append("--force")
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}  # fmt: skip
    result = subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=env, capture_output=quiet, text=True, check=False
    )
    if result.returncode != 0:
        detail = (result.stdout or "")[-3000:] + (result.stderr or "")[-3000:] if quiet else ""
        raise click.ClickException(f"training failed (rasa exit {result.returncode}) {detail}")
    models = sorted(MODELS_DIR.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise click.ClickException("training produced no model")
    for old in models[:-KEEP_MODELS]:  # the engine loads the newest; keep one to go back to
        old.unlink()
    return models[-1]


@main.command()
@click.option("--force", is_flag=True, help="Retrain even if nothing changed.")
def train(force: bool) -> None:
    """Trains the dialogue model from nlu/ (skipped when nothing changed)."""
    start = time.monotonic()
    model = train_model(force=force)
    click.echo(f"model {model.name} ready in {time.monotonic() - start:.0f}s")


# --- the whole stack ------------------------------------------------------------------------


@main.command()
@click.option("--no-train", is_flag=True, help="Use the latest model as it is.")
def run(no_train: bool) -> None:
    """Starts web, worker and engine (honcho reads the Procfile) on this machine.

    Without CAD_WEBHOOK_SECRET, a secret is generated once under instance/ and given to the
    processes, so the simulator's dispatcher panel and `tenfour replay` can sign CAD events
    for the local stack (a deployment sets its own, shared with its CAD).
    """
    from bot.migrate import upgrade
    from bot.redis import EmbeddedRedis

    settings = _settings_or_exit()
    env = dict(os.environ)
    if not settings.cad_webhook_secret:
        env["CAD_WEBHOOK_SECRET"] = local_cad_secret(settings.instance_path)
    embedded = None
    if not settings.redis_url:
        # One embedded server for all the processes, kept in instance/ between runs.
        embedded = EmbeddedRedis(settings.instance_path / "redis")
        env["REDIS_URL"] = embedded.url
        click.echo(f"embedded redis-server on {embedded.url}")
    env["RASA_TOKEN"] = settings.rasa_token
    # The Procfile's commands (gunicorn, tenfour) live beside this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PORT"] = str(settings.port)
    # honcho gives each process its own PORT; the engine must call back the web's.
    env.setdefault("TENFOUR_ACTIONS_URL", f"http://127.0.0.1:{settings.port}/rasa/actions")
    upgrade(settings.database_url)
    if not no_train:
        click.echo("training the dialogue model if the training data changed…")
        train_model()
    click.echo(
        f"TenFour on http://127.0.0.1:{settings.port}"
        + (
            f" — simulator: http://127.0.0.1:{settings.port}/simulator"
            if settings.sms_backend == "console"
            else ""
        )
    )
    honcho = Path(sys.executable).parent / "honcho"
    procfile = str(PROJECT_ROOT / "Procfile")
    cmd = [
        str(honcho),
        "start",
        "-f",
        procfile,
        "-p",
        str(settings.port),
        "web",
        "worker",
        "engine",
    ]
    honcho_process = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env)
    # `kill <pid of tenfour run>` must stop the whole stack, not orphan it: pass it on.
    signal.signal(signal.SIGTERM, lambda signum, _frame: honcho_process.send_signal(signum))
    try:
        honcho_process.wait()
    except KeyboardInterrupt:  # Ctrl-C reached honcho too (same process group)
        honcho_process.wait()
    finally:
        if embedded:
            embedded.stop()


# --- CAD events -------------------------------------------------------------------------------

LOCAL_CAD_SECRET_FILE = "cad_webhook_secret"


def local_cad_secret(instance: Path) -> str:
    """The local stack's CAD secret, generated under `instance/` on first use."""
    path = instance / LOCAL_CAD_SECRET_FILE
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class ReplaySummary:
    """What the endpoint answered to each line of a replayed file."""

    accepted: int = 0
    duplicate: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def record(self, line: int, status: int, answer: Any) -> None:
        if status == 202:
            self.accepted += 1
        elif status == 200:
            self.duplicate += 1
        else:
            self.rejected.append((line, _reason(status, answer)))

    def report(self) -> str:
        lines = [
            f"{self.accepted} accepted, {self.duplicate} duplicate, {len(self.rejected)} rejected"
        ]
        for line, reason in self.rejected[:MAX_REASONS_SHOWN]:
            lines.append(f"  line {line}: {reason}")
        if len(self.rejected) > MAX_REASONS_SHOWN:
            lines.append(f"  … and {len(self.rejected) - MAX_REASONS_SHOWN} more")
        return "\n".join(lines)


MAX_REASONS_SHOWN = 20


def _reason(status: int, answer: Any) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    if not isinstance(error, dict):
        return f"HTTP {status}"
    reason = f"HTTP {status} {error.get('code')}: {error.get('message')}"
    fields = error.get("fields") or []
    if fields:
        reason += " (" + "; ".join(f"{f.get('field')} {f.get('message')}" for f in fields) + ")"
    return reason


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--url",
    help="Where TenFour listens (the CAD endpoint is under it). Default: http://127.0.0.1:$PORT",
)
def replay(file: Path, url: str | None) -> None:
    """Feeds FILE, one CAD event per line (JSON lines), through the CAD endpoint.

    Each line is posted as it is, signed with CAD_WEBHOOK_SECRET (or the local stack's
    secret under instance/), so the endpoint validates, de-duplicates and applies it
    exactly as it would from the CAD. Exits 1 when any line was rejected.
    """
    import json

    import requests

    settings = _settings_or_exit()
    secret = settings.cad_webhook_secret
    stored = settings.instance_path / LOCAL_CAD_SECRET_FILE
    if not secret and stored.exists():
        secret = local_cad_secret(settings.instance_path)
    if not secret:
        raise click.ClickException(
            "CAD_WEBHOOK_SECRET is not set (and no local stack secret under instance/)"
        )
    from bot.cad import sign

    endpoint = (url or f"http://127.0.0.1:{settings.port}").rstrip("/") + "/webhooks/cad/events"
    events = [
        (number, line.strip())
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip()
    ]
    summary = ReplaySummary()
    http = requests.Session()
    with click.progressbar(events, label=f"replaying {file.name}", show_pos=True) as bar:
        for number, line in bar:
            body = line.encode()
            headers = {
                "Content-Type": "application/json",
                "X-TenFour-Signature": sign(secret, body),
            }
            try:
                resp = http.post(endpoint, data=body, headers=headers, timeout=30)
            except requests.RequestException as exc:
                raise click.ClickException(f"cannot reach {endpoint}: {exc}") from exc
            try:
                answer = resp.json()
            except json.JSONDecodeError:
                answer = None
            summary.record(number, resp.status_code, answer)
    click.echo(f"{len(events)} events sent to {endpoint}: {summary.report()}")
    if summary.rejected:
        sys.exit(1)


if __name__ == "__main__":
    main()
