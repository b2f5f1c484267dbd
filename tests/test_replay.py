"""`tenfour replay FILE`: a JSON-lines export fed through the real CAD endpoint over HTTP."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.serving import make_server

from bot import db
from bot.cli import local_cad_secret, main
from bot.models import CadEvent, Call
from tests.factories import cad_event


@pytest.fixture
def server(app) -> Iterator[str]:
    """The app on a real port (a thread of this process), as the CLI would reach it."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


def cli_env(settings_env: dict[str, Any], **overrides: str) -> dict[str, str]:
    return {**{k: str(v) for k, v in settings_env.items()}, **overrides}


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_replay_sends_every_line_and_summarises(server, settings_env, tmp_path):
    created = cad_event("call.created", occurred_at="2026-12-04T15:00:00Z")
    assigned = cad_event("unit.assigned", occurred_at="2026-12-04T15:05:00Z")
    closed = cad_event("call.closed", occurred_at="2026-12-04T15:40:00Z", disposition="advised")
    invalid = cad_event("call.created", call_id="MPD-26-000002", call={"priority": 7})
    export = write_lines(
        tmp_path / "export.jsonl",
        json.dumps(created),
        json.dumps(assigned),
        "",  # blank lines are skipped
        json.dumps(assigned),  # the CAD exported a retry
        json.dumps(invalid),
        "{not json",
        json.dumps(closed),
    )
    result = CliRunner().invoke(
        main, ["replay", str(export), "--url", server], env=cli_env(settings_env)
    )
    assert result.exit_code == 1, result.output  # some lines were rejected
    assert f"6 events sent to {server}/webhooks/cad/events" in result.output
    assert "3 accepted, 1 duplicate, 2 rejected" in result.output
    assert "line 5: HTTP 422 invalid" in result.output and "call.priority" in result.output
    assert "line 6: HTTP 400 malformed" in result.output
    db.session.remove()
    call = db.session.scalars(select(Call)).one()
    assert (call.cad_id, call.state) == ("MPD-26-004512", "closed")
    assert len(db.session.scalars(select(CadEvent)).all()) == 3
    assert [m.kind for m in call.messages] == ["acknowledgement", "assigned", "closed"]


def test_replay_of_a_clean_file_exits_0(server, settings_env, tmp_path):
    export = write_lines(tmp_path / "ok.jsonl", json.dumps(cad_event("call.created")))
    result = CliRunner().invoke(
        main, ["replay", str(export), "--url", server], env=cli_env(settings_env)
    )
    assert result.exit_code == 0, result.output
    assert "1 accepted, 0 duplicate, 0 rejected" in result.output


def test_replay_with_the_wrong_secret_is_rejected_by_the_endpoint(server, settings_env, tmp_path):
    export = write_lines(tmp_path / "x.jsonl", json.dumps(cad_event("call.created")))
    env = cli_env(settings_env, CAD_WEBHOOK_SECRET="some-other-secret")
    result = CliRunner().invoke(main, ["replay", str(export), "--url", server], env=env)
    assert result.exit_code == 1
    assert "line 1: HTTP 401 bad_signature" in result.output


def test_replay_without_a_secret_says_so(settings_env, tmp_path):
    export = write_lines(tmp_path / "x.jsonl", "{}")
    env = cli_env(settings_env, CAD_WEBHOOK_SECRET="")
    result = CliRunner().invoke(main, ["replay", str(export)], env=env)
    assert result.exit_code != 0
    assert "CAD_WEBHOOK_SECRET is not set" in result.output


def test_replay_uses_the_local_stack_secret(server, settings_env, tmp_path):
    """`tenfour run` generates the secret under instance/; replay finds it there."""
    instance = Path(settings_env["TENFOUR_INSTANCE_PATH"])
    (instance).mkdir(parents=True, exist_ok=True)
    (instance / "cad_webhook_secret").write_text(settings_env["CAD_WEBHOOK_SECRET"])
    export = write_lines(tmp_path / "x.jsonl", json.dumps(cad_event("call.created")))
    env = cli_env(settings_env, CAD_WEBHOOK_SECRET="")
    result = CliRunner().invoke(main, ["replay", str(export), "--url", server], env=env)
    assert result.exit_code == 0, result.output


def test_unreachable_endpoint_is_an_error(settings_env, tmp_path):
    export = write_lines(tmp_path / "x.jsonl", json.dumps(cad_event("call.created")))
    result = CliRunner().invoke(
        main, ["replay", str(export), "--url", "http://127.0.0.1:9"], env=cli_env(settings_env)
    )
    assert result.exit_code != 0
    assert "cannot reach http://127.0.0.1:9/webhooks/cad/events" in result.output


def test_local_cad_secret_is_generated_once_and_private(tmp_path):
    first = local_cad_secret(tmp_path / "instance")
    assert len(first) >= 32
    assert local_cad_secret(tmp_path / "instance") == first
    mode = (tmp_path / "instance" / "cad_webhook_secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
