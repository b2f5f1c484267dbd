"""A stand-in for the dialogue engine's HTTP API, on a real loopback port.

Injected at the edge (it is what `RASA_URL` points at), it answers the REST channel and
`/model/parse` as Rasa does, with replies a test scripts; it can be "down" (503) or slow.
Tests of the app's own logic use it; tests of the model use the real engine (tests/e2e).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], list[str]]


class FakeEngine:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.respond: Responder = lambda body: [f"reply to: {body['message']}"]
        self.parse_result: dict[str, Any] = {"intent": {"name": "greet", "confidence": 0.9}}
        self.down = False
        self.delay: dict[str, float] = {}  # message text -> seconds to wait before answering
        self.in_flight = 0
        self.max_in_flight = 0  # how many turns of the REST channel overlapped at most
        self._count = threading.Lock()
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if engine.down:
                    self._send(503, {"error": "down"})
                    return
                if self.path.startswith("/webhooks/rest/webhook"):
                    with engine._count:
                        engine.requests.append(body)
                        engine.in_flight += 1
                        engine.max_in_flight = max(engine.max_in_flight, engine.in_flight)
                    time.sleep(engine.delay.get(body.get("message", ""), 0))
                    try:
                        texts = engine.respond(body)
                    finally:
                        with engine._count:
                            engine.in_flight -= 1
                    self._send(200, [{"recipient_id": body["sender"], "text": t} for t in texts])
                elif self.path.startswith("/model/parse"):
                    self._send(200, {**engine.parse_result, "text": body.get("text")})
                else:
                    self._send(404, {})

            def _send(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def messages(self) -> list[str]:
        return [r["message"] for r in self.requests]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
