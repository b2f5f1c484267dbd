"""The simulator's dispatcher panel: each button is a real signed CAD event."""

from __future__ import annotations

from sqlalchemy import select

from bot import db
from bot.models import CadEvent
from tests.factories import drain_queues

PHONE = "+15415550177"


def press(client, action: str, **fields):
    return client.post("/simulator/cad", json={"action": action, "phone": PHONE, **fields})


def thread(client) -> list[dict]:
    return client.get(f"/simulator/thread?phone={PHONE}").get_json()["messages"]


def test_page_has_the_phone_and_the_dispatcher(client):
    page = client.get("/simulator").get_data(as_text=True)
    assert 'id="compose"' in page and 'id="dispatcher"' in page
    for action in ("create", "update", "assign", "enroute", "divert", "arrive", "close", "case"):
        assert f'data-action="{action}"' in page


def test_a_call_from_the_dispatcher_panel_reaches_the_phone(client):
    created = press(client, "create", language="es", type_code="burg", priority="3")
    assert created.status_code == 202
    call_id = created.get_json()["event"]["call"]["id"]
    assert created.get_json()["answer"] == {
        "status": "accepted",
        "event_id": created.get_json()["event"]["event_id"],
    }
    unit = {"unit_id": "2A31", "officer_name": "J. Smith", "badge": "1234"}
    assert press(client, "assign", call_id=call_id, **unit).status_code == 202
    assert press(client, "divert", call_id=call_id, **unit).status_code == 202
    assert press(client, "assign", call_id=call_id, unit_id="3B1", officer_name="A. Reyes",
                 badge="77").status_code == 202  # fmt: skip
    assert press(client, "arrive", call_id=call_id, unit_id="3B1").status_code == 202
    closing = {"disposition": "report_taken", "case_number": "26-5678"}
    assert press(client, "close", call_id=call_id, **closing).status_code == 202
    case = {"case_number": "26-5678", "case_status": "assigned_detective", "detective": ""}
    assert press(client, "case", call_id=call_id, **case).status_code == 202
    drain_queues()
    messages = thread(client)
    assert [(m["kind"], m["status"]) for m in messages] == [
        ("acknowledgement", "delivered"),
        ("assigned", "delivered"),
        ("delay", "delivered"),
        ("assigned", "delivered"),
        ("closed", "delivered"),
        ("case_update", "delivered"),
    ]
    assert call_id in messages[0]["body"] and "recibimos" in messages[0]["body"]
    assert "26-5678" in messages[4]["body"]
    # Every button went through the public endpoint and was recorded like a CAD's event.
    types = db.session.scalars(select(CadEvent.type).order_by(CadEvent.id)).all()
    assert types == [
        "call.created", "unit.assigned", "unit.diverted", "unit.assigned", "unit.arrived",
        "call.closed", "case.updated",
    ]  # fmt: skip


def test_reclassifying_from_the_panel_silences_the_call(client):
    created = press(client, "create", type_code="BURG", priority="3")
    call_id = created.get_json()["event"]["call"]["id"]
    assert press(client, "update", call_id=call_id, type_code="DV").status_code == 202
    assert press(client, "assign", call_id=call_id).status_code == 202
    drain_queues()
    assert [(m["kind"], m["status"]) for m in thread(client)] == [("acknowledgement", "suppressed")]


def test_endpoint_errors_are_shown(client):
    created = press(client, "create", priority="3")
    call_id = created.get_json()["event"]["call"]["id"]
    resp = press(client, "case", call_id=call_id, case_number="26-1")  # no status
    assert resp.status_code == 422
    error = resp.get_json()["answer"]["error"]
    assert error["code"] == "invalid"
    assert [f["field"] for f in error["fields"]] == ["case.status"]


def test_unknown_action_and_missing_call(client):
    assert press(client, "teleport").status_code == 422
    assert press(client, "assign").get_json()["error"]["fields"][0]["field"] == "call_id"
