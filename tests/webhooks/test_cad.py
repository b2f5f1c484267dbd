"""The CAD endpoint: signatures, content checks, schema errors, idempotency."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from bot import db
from bot.models import CadEvent, Call, Message
from tests.factories import cad_event, cad_headers, post_cad_event


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_signed_event_is_accepted_and_kept_raw(client):
    event = cad_event("call.created", event_id="cad-000812-01", extra_vendor_field={"x": 1})
    resp = post_cad_event(client, event)
    assert resp.status_code == 202
    assert resp.get_json() == {"status": "accepted", "event_id": "cad-000812-01"}
    stored = db.session.scalars(select(CadEvent)).one()
    assert stored.payload == event  # everything, unknown fields too, for audit
    assert stored.outcome == "applied"
    assert db.session.scalars(select(Call)).one().state == "received"


def test_repeated_event_id_is_a_duplicate_without_effect(client):
    event = cad_event("call.created", event_id="cad-dup-1")
    assert post_cad_event(client, event).status_code == 202
    again = post_cad_event(client, event)
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    assert count(CadEvent) == 1
    assert count(Message) == 1  # one acknowledgement, not two


def test_concurrent_deliveries_of_one_event_apply_once(app):
    """Two web instances get the same event at once: the unique event_id decides."""
    event = cad_event("call.created", event_id="cad-race-1")
    body = json.dumps(event).encode()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(
            client.post("/webhooks/cad/events", data=body, headers=cad_headers(body)).status_code
        )
        db.session.remove()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 200, 202]
    db.session.remove()
    assert count(CadEvent) == 1
    assert count(Call) == 1
    assert count(Message) == 1


def test_concurrent_events_of_one_new_call_create_it_once(app):
    created = cad_event("call.created", occurred_at="2026-12-04T15:00:00Z")
    assigned = cad_event("unit.assigned", occurred_at="2026-12-04T15:01:00Z")
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def deliver(event) -> None:
        body = json.dumps(event).encode()
        client = app.test_client()
        barrier.wait()
        resp = client.post("/webhooks/cad/events", data=body, headers=cad_headers(body))
        statuses.append(resp.status_code)
        db.session.remove()

    threads = [threading.Thread(target=deliver, args=(e,)) for e in (created, assigned)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [202, 202]
    db.session.remove()
    call = db.session.scalars(select(Call)).one()
    assert call.state == "assigned"
    assert call.caller is not None


def test_bad_signature_is_401(client):
    body = json.dumps(cad_event("call.created")).encode()
    resp = client.post(
        "/webhooks/cad/events", data=body, headers=cad_headers(body, secret="not-the-secret")
    )
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "bad_signature"
    assert count(CadEvent) == 0


def test_missing_signature_is_401(client):
    body = json.dumps(cad_event("call.created")).encode()
    resp = client.post(
        "/webhooks/cad/events", data=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 401


def test_body_changed_after_signing_is_401(client):
    body = json.dumps(cad_event("call.created")).encode()
    headers = cad_headers(body)
    tampered = body.replace(b"BURG", b"THFT")
    assert client.post("/webhooks/cad/events", data=tampered, headers=headers).status_code == 401


@pytest.mark.parametrize("skew", [-301, 301])
def test_signature_more_than_300s_off_is_401(client, skew):
    body = json.dumps(cad_event("call.created")).encode()
    headers = cad_headers(body, timestamp=int(time.time()) + skew)
    assert client.post("/webhooks/cad/events", data=body, headers=headers).status_code == 401


def test_signature_within_300s_is_accepted(client):
    body = json.dumps(cad_event("call.created")).encode()
    headers = cad_headers(body, timestamp=int(time.time()) - 290)
    assert client.post("/webhooks/cad/events", data=body, headers=headers).status_code == 202


def test_no_secret_configured_is_503(settings_env):
    from webhooks import create_app

    settings_env["CAD_WEBHOOK_SECRET"] = ""
    resp = post_cad_event(create_app(settings_env).test_client(), cad_event("call.created"))
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "not_configured"


def test_non_json_is_415(client):
    body = b"event_id=1"
    headers = {**cad_headers(body), "Content-Type": "application/x-www-form-urlencoded"}
    resp = client.post("/webhooks/cad/events", data=body, headers=headers)
    assert resp.status_code == 415
    assert resp.get_json()["error"]["code"] == "unsupported_media_type"


def test_too_large_is_413(client):
    event = cad_event("call.created", notes="x" * 70_000)
    resp = post_cad_event(client, event)
    assert resp.status_code == 413
    assert "error" in resp.get_json()
    assert count(CadEvent) == 0


def test_malformed_json_is_400(client):
    body = b'{"event_id": "x", '
    resp = client.post("/webhooks/cad/events", data=body, headers=cad_headers(body))
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "malformed"


def fields_of(resp) -> set[str]:
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "invalid"
    return {f["field"] for f in error["fields"]}


def test_schema_errors_name_every_field(client):
    event = cad_event("call.created", call={"priority": 9})
    del event["occurred_at"]
    event["call"].pop("type_code")
    assert fields_of(post_cad_event(client, event)) == {
        "occurred_at",
        "call.priority",
        "call.type_code",
    }
    assert count(CadEvent) == 0


def test_unknown_type_is_422(client):
    assert fields_of(post_cad_event(client, cad_event("call.teleported"))) == {"type"}


def test_call_created_needs_a_phone_or_email(client):
    event = cad_event("call.created")
    event["caller"] = {"phone": None, "email": None}
    resp = post_cad_event(client, event)
    assert fields_of(resp) == {"caller"}
    assert "phone or an email" in resp.get_json()["error"]["fields"][0]["message"]


def test_invalid_phone_is_422(client):
    event = cad_event("call.created")
    event["caller"]["phone"] = "12"
    assert fields_of(post_cad_event(client, event)) == {"caller.phone"}


def test_occurred_at_needs_a_zone(client):
    event = cad_event("call.created", occurred_at="2026-12-04 15:00:00")
    assert fields_of(post_cad_event(client, event)) == {"occurred_at"}


def test_report_taken_needs_a_case_number(client):
    event = cad_event("call.closed", disposition="report_taken", case=None)
    assert fields_of(post_cad_event(client, event)) == {"case"}
    event = cad_event("call.closed", disposition="report_taken", case={"number": "26-1"})
    assert post_cad_event(client, event).status_code == 202


def test_unit_events_need_a_unit(client):
    event = cad_event("unit.assigned")
    del event["unit"]
    assert fields_of(post_cad_event(client, event)) == {"unit"}


def test_case_update_needs_number_and_status(client):
    event = cad_event("case.updated", case={"number": "26-5678"})
    assert fields_of(post_cad_event(client, event)) == {"case.status"}


def test_invalid_event_is_not_recorded_so_a_corrected_resend_counts(client):
    event = cad_event("call.created", event_id="cad-fix-1", call={"priority": 0})
    assert post_cad_event(client, event).status_code == 422
    event["call"]["priority"] = 2
    assert post_cad_event(client, event).status_code == 202


def test_a_signature_under_either_secret_is_accepted_while_rotating(client):
    body = json.dumps(cad_event("call.created")).encode()
    t = int(time.time())
    old = cad_headers(body, secret="the-old-secret", timestamp=t)["X-TenFour-Signature"]
    new = cad_headers(body, timestamp=t)["X-TenFour-Signature"]
    both = f"{old},v1={new.partition('v1=')[2]}"
    headers = {"Content-Type": "application/json", "X-TenFour-Signature": both}
    assert client.post("/webhooks/cad/events", data=body, headers=headers).status_code == 202
