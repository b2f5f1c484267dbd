"""Liveness, readiness and metrics."""

from __future__ import annotations

from tests.factories import post_inbound_sms


def test_healthz_is_alive(client):
    assert client.get("/healthz").json == {"status": "alive"}


def test_readyz_names_the_engine_when_it_is_down(client):
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json["checks"] == {"database": "ok", "redis": "ok", "engine": "down"}


def test_metrics_report_queues_and_messages(client):
    post_inbound_sms(client, "hello")
    body = client.get("/metrics").data.decode()
    assert 'tenfour_queue_depth{queue="turns"} 1.0' in body
    assert 'tenfour_messages{direction="inbound",status="received"} 1.0' in body


def test_errors_are_json(client):
    resp = client.get("/api/v1/nothing-here", headers={"Authorization": "Bearer test-admin-token"})
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "not_found"
