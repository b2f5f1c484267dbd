"""The client of the dialogue engine (Rasa, over HTTP only: the app never imports rasa)."""

from __future__ import annotations

from typing import Any

import requests


class EngineUnavailable(Exception):
    """The engine did not answer; the turn waits and is retried."""


class EngineClient:
    def __init__(self, base_url: str, token: str, http: requests.Session, timeout: float = 30):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = http
        self.timeout = timeout

    def send(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[str]:
        """Sends a caller's text to the REST channel; returns the engine's replies in order."""
        body = {"sender": sender_id, "message": text, "metadata": metadata}
        data = self._request("POST", "/webhooks/rest/webhook", json=body)
        return [str(item["text"]) for item in data or [] if item.get("text")]

    def trigger(self, sender_id: str, intent: str, metadata: dict[str, Any]) -> list[str]:
        """Injects an intent (e.g. the survey invitation starting the feedback form)."""
        return self.send(sender_id, "/" + intent, metadata)

    def parse(self, text: str) -> dict[str, Any]:
        """The model's reading of `text`: intent with confidence, entities."""
        result: dict[str, Any] = self._request("POST", "/model/parse", json={"text": text})
        return result

    def ready(self) -> bool:
        try:
            data = self._request("GET", "/status", timeout=3)
        except EngineUnavailable:
            return False
        return bool(data.get("model_file"))

    def _request(self, method: str, path: str, timeout: float | None = None, **kw: Any) -> Any:
        try:
            resp = self.http.request(
                method,
                self.base_url + path,
                params={"token": self.token},
                timeout=timeout or self.timeout,
                **kw,
            )
        except requests.RequestException as exc:
            raise EngineUnavailable(str(exc)) from exc
        if resp.status_code >= 500 or resp.status_code in (404, 409):
            raise EngineUnavailable(f"engine answered {resp.status_code}: {resp.text[:200]}")
        resp.raise_for_status()
        return resp.json()
