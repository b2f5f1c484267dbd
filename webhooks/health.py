"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text

from bot import db, runtime
from bot.models import Message

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"status": "alive"})


@bp.get("/readyz")
def readyz() -> Any:
    rt = current_app.extensions["tenfour"]
    checks: dict[str, str] = {}
    try:
        db.session().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {type(exc).__name__}"
    checks["engine"] = "ok" if rt.engine and rt.engine.ready() else "down"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), (
        200 if ready else 503
    )


class TenFourCollector:
    """Read at scrape time from Redis and the database, so every process reports the same."""

    def collect(self) -> Any:
        rt = runtime.current()
        depth = GaugeMetricFamily("tenfour_queue_depth", "Jobs waiting per queue", labels=["queue"])
        for name in runtime.QUEUE_NAMES:
            depth.add_metric([name], len(rt.queue(name)))
        yield depth
        messages = GaugeMetricFamily(
            "tenfour_messages", "Messages by direction and status", labels=["direction", "status"]
        )
        rows = db.session().execute(
            select(Message.direction, Message.status, func.count()).group_by(
                Message.direction, Message.status
            )
        )
        for direction, status, count in rows:
            messages.add_metric([direction, status], count)
        yield messages


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry()
    registry.register(TenFourCollector())
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")
