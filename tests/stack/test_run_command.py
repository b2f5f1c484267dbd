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
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bot import cli
from bot.models import Call, Caller
from bot.redis import _free_port

pytestmark = pytest.mark.engine


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

        db_url = f"sqlite:///{tmp_path / 'instance' / 'tenfour.sqlite'}"
        with Session(create_engine(db_url)) as s:
            caller = Caller(phone="+15415550142", language="en")
            s.add(Call(cad_id="MPD-26-009001", caller=caller, state="enroute", type_code="BURG"))
            s.commit()

        sent = requests.post(
            f"{base}/simulator/send",
            json={"phone": "+15415550142", "text": "hola, ya viene alguien?"},
            timeout=5,
        )
        assert sent.status_code == 202

        def answered() -> bool:
            thread = requests.get(
                f"{base}/simulator/thread", params={"phone": "+15415550142"}, timeout=3
            ).json()["messages"]
            return any(m["direction"] == "outbound" for m in thread)

        wait_for(answered, "the reply", timeout=120)
        thread = requests.get(
            f"{base}/simulator/thread", params={"phone": "+15415550142"}, timeout=3
        ).json()["messages"]
        reply = next(m for m in thread if m["direction"] == "outbound")
        assert reply["language"] == "es"
        assert "MPD-26-009001" in reply["body"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        print((tmp_path / "run.log").read_text()[-3000:])
