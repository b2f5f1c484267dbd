"""A Twilio-compatible REST server on a loopback port, for the real `twilio` library.

It answers `POST /2010-04-01/Accounts/<sid>/Messages.json` as Twilio does: HTTP basic
auth with the account sid and auth token, form-encoded parameters, `201` with the message
as JSON (status "queued") or Twilio's error JSON (`{"code", "message", "more_info",
"status"}`). Tests script it:

    server.fail_next(3, 429)             # the next 3 requests get HTTP 429 (code 20429)
    server.outage(500)  / server.recover()   # every request fails until recovered
    server.reject("+15415550199", 21610)    # that number always gets this error code
    server.drop_next(1)                   # read the request, then close without answering
    with server.hold() as gate: ...       # park requests until the block ends

and reads what was sent from `server.accepted` (one dict per accepted message).

`with TwilioTestServer() as server:` runs it; `twilio_settings(server)` are the settings
that point the app at it.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.factories import TWILIO_AUTH_TOKEN

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = TWILIO_AUTH_TOKEN  # the one the webhooks validate signatures with
MESSAGING_SERVICE_SID = "MG" + "0" * 31 + "1"

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")

# Twilio's messages for the error codes tests use.
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    30006: "Landline or unreachable carrier",
}
_CODE_FOR_STATUS = {429: 20429, 500: 20500, 503: 20503}


@dataclass
class Gate:
    """Requests wait at the gate until released; `arrived` is set when one is waiting.

    `after_accept` parks them after the message was accepted (and recorded), before the
    answer goes back: the moment a status callback can overtake the sender.
    """

    after_accept: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.opened.set()

    def wait_here(self) -> None:
        self.arrived.set()
        self.opened.wait(timeout=30)


class TwilioTestServer:
    """Serves the Messages resource on 127.0.0.1 in a thread; see the module docstring."""

    def __init__(
        self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN, port: int = 0
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.accepted: list[dict[str, str]] = []
        self.requests = 0  # every request that reached the Messages resource
        self._lock = threading.Lock()
        self._script: deque[tuple[str, int, int | None]] = deque()
        self._outage: tuple[int, int | None] | None = None
        self._rejections: dict[str, tuple[int, int]] = {}
        self._gate: Gate | None = None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What `TWILIO_API_BASE_URL` is set to."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TwilioTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> TwilioTestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._gate is not None:
            self._gate.release()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    # --- scripting ----------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 429, code: int | None = None) -> None:
        """The next `count` requests get HTTP `status` with Twilio's `code` (20429, 20500...)."""
        with self._lock:
            self._script.extend([("fail", status, code)] * count)

    def drop_next(self, count: int = 1, after_accept: bool = False) -> None:
        """The next `count` requests are read, then the connection closes with no answer.

        `after_accept`: the message is accepted (and will be delivered) all the same, as
        when an answer is lost on its way back.
        """
        action = "drop-accepted" if after_accept else "drop"
        with self._lock:
            self._script.extend([(action, 0, None)] * count)

    def outage(self, status: int = 500, code: int | None = None) -> None:
        """Every request fails with `status` until `recover()`."""
        with self._lock:
            self._outage = (status, code)

    def recover(self) -> None:
        with self._lock:
            self._outage = None

    def reject(self, number: str, code: int, status: int = 400) -> None:
        """Every message to `number` gets Twilio error `code` (e.g. 21610, 21211)."""
        with self._lock:
            self._rejections[number] = (status, code)

    @contextmanager
    def hold(self, after_accept: bool = False) -> Iterator[Gate]:
        """Parks each request until the gate opens (opened on leaving the block)."""
        gate = Gate(after_accept)
        self._gate = gate
        try:
            yield gate
        finally:
            gate.release()
            self._gate = None

    def sent_to(self, number: str) -> list[dict[str, str]]:
        return [m for m in self.accepted if m["to"] == number]

    # --- answering ----------------------------------------------------------------------

    def _answer(self, path: str, auth: str | None, form: dict[str, str]) -> tuple[str, int, Any]:
        """(action, HTTP status, JSON body) for one request; action is "answer" or "drop"."""
        if not _authorised(auth, self.account_sid, self.auth_token):
            return "answer", 401, _error(20003, 401)
        match = _MESSAGES_PATH.match(path)
        if not match or match["sid"] != self.account_sid:
            return "answer", 404, _error(20404, 404)
        with self._lock:
            self.requests += 1
            scripted = self._script.popleft() if self._script else None
            outage = self._outage
            rejection = self._rejections.get(form.get("To", ""))
        if scripted and scripted[0] == "drop":
            return "drop", 0, None
        if scripted and scripted[0] == "drop-accepted":
            self._accept(form)
            return "drop", 0, None
        if scripted or outage:
            status, code = scripted[1:] if scripted else outage  # type: ignore[misc]
            return "answer", status, _error(code or _CODE_FOR_STATUS.get(status, 20500), status)
        invalid = _invalid(form)
        if invalid:
            return "answer", 400, _error(invalid, 400)
        if rejection:
            return "answer", rejection[0], _error(rejection[1], rejection[0])
        message = self._accept(form)
        return "answer", 201, message

    def _accept(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = formatdate(usegmt=True)
        record = {
            "sid": sid,
            "to": form["To"],
            "from": form.get("From", ""),
            "body": form["Body"],
            "messaging_service_sid": form.get("MessagingServiceSid", ""),
            "status_callback": form.get("StatusCallback", ""),
        }
        with self._lock:
            self.accepted.append(record)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": form.get("MessagingServiceSid") or None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {},
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }

    def status_callback_form(
        self, sid: str, status: str, error_code: int | None = None
    ) -> dict[str, str]:
        """The form Twilio posts to a message's StatusCallback URL."""
        record = next(m for m in self.accepted if m["sid"] == sid)
        form = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": record["from"] or "+15415550100",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": record["to"],
        }
        if record["messaging_service_sid"]:
            form["MessagingServiceSid"] = record["messaging_service_sid"]
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return form


def _authorised(header: str | None, sid: str, token: str) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return user == sid and password == token


def _invalid(form: dict[str, str]) -> int | None:
    if not form.get("To"):
        return 21604
    if not _E164.match(form["To"]):
        return 21211
    if not form.get("Body"):
        return 21602
    if len(form["Body"]) > 1600:
        return 21617
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return 21606
    return None


def _error(code: int, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _handler_for(server: TwilioTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            gate = server._gate
            if gate is not None and not gate.after_accept:
                gate.wait_here()
            action, status, body = server._answer(
                self.path, self.headers.get("Authorization"), form
            )
            if gate is not None and gate.after_accept:
                gate.wait_here()
            if action == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read `server.accepted`, not an access log."""

    return Handler


def twilio_settings(server: TwilioTestServer) -> dict[str, str]:
    """Settings that send SMS through the real `twilio` library to `server`."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": server.account_sid,
        "TWILIO_AUTH_TOKEN": server.auth_token,
        "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID,
        "TWILIO_API_BASE_URL": server.base_url,
        # What the Flask test client calls itself, so status callbacks validate.
        "PUBLIC_BASE_URL": "http://localhost",
    }
