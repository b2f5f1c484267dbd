"""The README's run command brings up web, worker and engine, and a text gets answered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot import cli
from bot.redis import _free_port

pytestmark = pytest.mark.engine

PHONE = "+15415550142"


def wait_for(check, what: str, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


def test_tenfour_run_starts_the_stack_on_embedded_defaults(tmp_path: Path):
    cli.train_model(quiet=True)
    port, engine_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        TENFOUR_INSTANCE_PATH=str(tmp_path / "instance"),
        PORT=str(port),
        RASA_URL=f"http://127.0.0.1:{engine_port}",
        WEB_CONCURRENCY="1",
    )
    env.pop("TWILIO_ACCOUNT_SID", None)
    tenfour = Path(sys.executable).parent / "tenfour"
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(tenfour), "run", "--no-train"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/readyz", timeout=3).ok, "/readyz")
        assert requests.get(f"{base}/simulator", timeout=3).ok

        # The dispatcher panel sends real signed CAD events through the public endpoint.
        created = requests.post(
            f"{base}/simulator/cad",
            json={"action": "create", "phone": PHONE, "type_code": "BURG", "priority": 3},
            timeout=10,
        )
        assert created.status_code == 202, created.text
        call_id = created.json()["event"]["call"]["id"]
        assigned = requests.post(
            f"{base}/simulator/cad", json={"action": "enroute", "call_id": call_id}, timeout=10
        )
        assert assigned.status_code == 202, assigned.text

        sent = requests.post(
            f"{base}/simulator/send",
            json={"phone": PHONE, "text": "hola, ya viene alguien?"},
            timeout=5,
        )
        assert sent.status_code == 202

        def answered() -> bool:
            thread = requests.get(
                f"{base}/simulator/thread", params={"phone": PHONE}, timeout=3
            ).json()["messages"]
            return any(m["kind"] == "reply" for m in thread)

        wait_for(answered, "the reply", timeout=120)
        thread = requests.get(
            f"{base}/simulator/thread", params={"phone": PHONE}, timeout=3
        ).json()["messages"]
        kinds = [m["kind"] for m in thread if m["direction"] == "outbound"]
        assert kinds[0] == "acknowledgement"  # the CAD event texted the caller first
        reply = next(m for m in thread if m["kind"] == "reply")
        assert reply["language"] == "es"
        assert call_id in reply["body"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        print((tmp_path / "run.log").read_text()[-3000:])
