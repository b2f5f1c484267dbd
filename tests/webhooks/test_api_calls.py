"""`GET /api/v1/calls/<call_id>` (CONTRACTS.md §4) and the OpenAPI document."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from bot import calls, db
from bot.models import Flag, Message, Rating
from tests.factories import cad_event, drain_queues, post_cad_event

AUTH = {"Authorization": "Bearer test-admin-token"}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

CONTRACT_EXAMPLE = {
    "event_id": "cad-000812-03",
    "type": "unit.assigned",
    "occurred_at": "2026-12-04T15:02:11Z",
    "call": {"id": "MPD-26-004512", "type_code": "BURG", "priority": 3, "agency": "MPD"},
    "caller": {"phone": "+15415550123", "email": None, "language": "es", "name": None},
    "unit": {"id": "2A31", "officer": {"name": "J. Smith", "badge": "1234"}},
    "disposition": None,
    "case": None,
}


def test_token_is_required(client):
    assert client.get("/api/v1/calls/MPD-1").status_code == 401
    wrong = client.get("/api/v1/calls/MPD-1", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wrong.get_json()["error"]["code"] == "forbidden"


def test_unknown_call_is_404(client):
    resp = client.get("/api/v1/calls/MPD-404", headers=AUTH)
    assert resp.status_code == 404
    assert resp.get_json()["error"]["code"] == "not_found"


def test_call_with_messages_ratings_and_flags(client):
    created = cad_event("call.created", occurred_at="2026-12-04T15:00:00Z")
    created["caller"]["language"] = "es"
    post_cad_event(client, created)
    post_cad_event(client, {**CONTRACT_EXAMPLE})
    drain_queues()  # the console channel delivers
    call = calls.find("MPD-26-004512")
    assert call is not None
    db.session.add_all(
        [
            Message(direction="inbound", channel="sms", body="¿ya viene alguien?",
                    intent="ask_status", language="es", status="handled", call=call,
                    caller=call.caller),
            Rating(call=call, call_taker=5, officer=4, comment="muy amables"),
            Flag(call=call, kind="add_info", text="tiene un perro grande"),
        ]
    )  # fmt: skip
    db.session.commit()

    resp = client.get("/api/v1/calls/MPD-26-004512", headers=AUTH)
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["call"] == {
        "id": "MPD-26-004512",
        "type_code": "BURG",
        "priority": 3,
        "state": "assigned",
        "language": "es",
        "suppressed": False,
        "case_number": None,
        "case_status": None,
    }
    ack, assigned, inbound = data["messages"]
    assert {k: ack[k] for k in ("direction", "channel", "kind", "language", "status")} == {
        "direction": "outbound",
        "channel": "sms",
        "kind": "acknowledgement",
        "language": "es",
        "status": "delivered",
    }
    assert "MPD-26-004512" in ack["body"]
    assert assigned["kind"] == "assigned" and "J. Smith" in assigned["body"]
    assert inbound == {
        "direction": "inbound",
        "channel": "sms",
        "body": "¿ya viene alguien?",
        "intent": "ask_status",
        "language": "es",
        "created_at": inbound["created_at"],
    }
    assert all(ISO.match(m["created_at"]) for m in data["messages"])
    assert data["ratings"] == {"call_taker": 5, "officer": 4, "comment": "muy amables"}
    [flag] = data["flags"]
    assert (flag["kind"], flag["text"]) == ("add_info", "tiene un perro grande")
    assert ISO.match(flag["created_at"])
    # The answer matches the schema the OpenAPI document publishes.
    document = client.get("/api/v1/openapi.json").get_json()
    schema = {**document["components"]["schemas"]["CallRecord"]}
    Draft202012Validator(schema).validate(data)


def test_call_without_ratings(client):
    post_cad_event(client, cad_event("call.created"))
    data = client.get("/api/v1/calls/MPD-26-004512", headers=AUTH).get_json()
    assert data["ratings"] == {"call_taker": None, "officer": None, "comment": None}
    assert data["flags"] == []
    assert data["call"]["language"] == "en"


def test_openapi_document_is_public_and_describes_both_endpoints(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    document = resp.get_json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/webhooks/cad/events", "/api/v1/calls/{call_id}"}
    cad_post = document["paths"]["/webhooks/cad/events"]["post"]
    assert set(cad_post["responses"]) == {"200", "202", "400", "401", "413", "415", "422", "503"}
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    event_schema = document["components"]["schemas"]["CadEvent"]
    Draft202012Validator(event_schema).validate(CONTRACT_EXAMPLE)
    assert not Draft202012Validator(event_schema).is_valid({**CONTRACT_EXAMPLE, "type": "x"})
