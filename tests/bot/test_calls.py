"""The call's state machine: forward only, late and out-of-order events harmless."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot import cad, calls, db, runtime
from bot.models import CadEvent, Call, Caller, Message
from tests.factories import cad_event

T0 = "2026-12-04T15:00:00Z"


def at(minute: int, second: int = 0) -> str:
    return f"2026-12-04T15:{minute:02d}:{second:02d}Z"


def feed(*events: dict) -> list[str]:
    """Applies events in the order given, as the endpoint would; returns the outcomes."""
    outcomes = []
    for event in events:
        assert calls.receive(cad.parse(event)) == calls.ACCEPTED
        outcomes.append(
            db.session.scalars(select(CadEvent.outcome).filter_by(event_id=event["event_id"])).one()
        )
    return outcomes


def the_call(cad_id: str = "MPD-26-004512") -> Call:
    db.session.expire_all()
    return db.session.scalars(select(Call).filter_by(cad_id=cad_id)).one()


def kinds(cad_id: str = "MPD-26-004512") -> list[str]:
    return [m.kind or "" for m in the_call(cad_id).messages]


def created(**kw) -> dict:
    return cad_event("call.created", occurred_at=T0, **kw)


def test_a_call_moves_forward_and_texts_what_the_agency_wants(app):
    outcomes = feed(
        created(),
        cad_event("unit.assigned", occurred_at=at(5)),
        cad_event("unit.enroute", occurred_at=at(6)),
        cad_event("unit.arrived", occurred_at=at(20)),
        cad_event("call.closed", occurred_at=at(45), disposition="advised"),
    )
    assert outcomes == ["applied"] * 5
    call = the_call()
    assert call.state == "closed"
    assert call.disposition == "advised"
    # enroute and arrived are off by default (config/agency.yml)
    assert kinds() == ["acknowledgement", "assigned", "closed"]
    assert all(m.status == "queued" for m in call.messages)  # sent by the worker, later


def test_assigned_after_arrived_sends_nothing(app):
    feed(created(), cad_event("unit.arrived", occurred_at=at(20)))
    before = kinds()
    # Arrives later and is even stamped later (a CAD clock skew): still not forward.
    assert feed(cad_event("unit.assigned", occurred_at=at(21))) == ["stale"]
    assert the_call().state == "arrived"
    assert kinds() == before


def test_late_event_older_than_the_last_applied_is_stale(app):
    feed(created(), cad_event("unit.enroute", occurred_at=at(10)))
    assert feed(cad_event("unit.assigned", occurred_at=at(5))) == ["stale"]
    assert the_call().state == "enroute"


def test_close_then_late_arrival_keeps_it_closed(app):
    feed(created(), cad_event("call.closed", occurred_at=at(40), disposition="cancelled"))
    assert feed(cad_event("unit.arrived", occurred_at=at(30))) == ["stale"]
    assert feed(cad_event("call.closed", occurred_at=at(50), disposition="advised")) == ["stale"]
    call = the_call()
    assert (call.state, call.disposition) == ("closed", "cancelled")
    assert kinds() == ["acknowledgement", "closed"]


def test_enroute_without_an_assignment_still_says_someone_is_coming(app):
    feed(created(), cad_event("unit.enroute", occurred_at=at(5)))
    assert the_call().state == "enroute"
    assert kinds() == ["acknowledgement", "assigned"]


def test_backup_unit_assigned_is_ignored(app):
    feed(created(), cad_event("unit.assigned", occurred_at=at(5)))
    backup = cad_event("unit.assigned", occurred_at=at(6), unit={"id": "2A99", "officer": None})
    assert feed(backup) == ["ignored"]
    assert the_call().unit_id == "2A31"
    assert kinds() == ["acknowledgement", "assigned"]


def test_diverted_then_reassigned(app):
    feed(
        created(),
        cad_event("unit.assigned", occurred_at=at(5)),
        cad_event("unit.enroute", occurred_at=at(6)),
        cad_event("unit.diverted", occurred_at=at(9)),
    )
    call = the_call()
    assert (call.state, call.diverted) == ("assigned", True)
    # The original assignment, delivered again late, is older than the diversion.
    assert feed(cad_event("unit.assigned", occurred_at=at(5, 30))) == ["stale"]
    new_unit = {"id": "3B12", "officer": {"name": "A. Reyes", "badge": "5521"}}
    assert feed(cad_event("unit.assigned", occurred_at=at(15), unit=new_unit)) == ["applied"]
    call = the_call()
    assert (call.state, call.diverted, call.unit_id) == ("assigned", False, "3B12")
    assert kinds() == ["acknowledgement", "assigned", "delay", "assigned"]
    assert "more urgent" in call.messages[2].body
    assert "A. Reyes" in call.messages[3].body and "now assigned" in call.messages[3].body


def test_diversion_of_another_unit_is_ignored(app):
    feed(created(), cad_event("unit.assigned", occurred_at=at(5)))
    other = cad_event("unit.diverted", occurred_at=at(7), unit={"id": "9Z9"})
    assert feed(other) == ["ignored"]
    assert the_call().diverted is False


def test_events_before_call_created_are_kept_and_the_ack_still_goes(app):
    assert feed(cad_event("unit.assigned", occurred_at=at(5))) == ["applied"]
    bare = the_call()
    assert bare.caller is None and bare.messages == []
    feed(created())  # stamped earlier, delivered later
    call = the_call()
    assert call.state == "assigned"
    assert call.caller is not None
    assert kinds() == ["acknowledgement", "assigned"]
    # No delay notice is pending: a unit is already assigned.
    registry = runtime.current().queue(runtime.DEFAULT).scheduled_job_registry
    assert registry.get_job_ids() == []


def test_created_after_closing_is_not_acknowledged(app):
    feed(cad_event("call.closed", occurred_at=at(30), disposition="advised"), created())
    assert kinds() == []
    assert the_call().caller is not None


def test_case_updates_only_move_forward(app):
    case = {"number": "26-5678"}
    feed(
        created(),
        cad_event("call.closed", occurred_at=at(30), disposition="report_taken", case=case),
    )
    outcomes = feed(
        cad_event(
            "case.updated", occurred_at="2026-12-06T10:00:00Z",
            case={**case, "status": "assigned_detective", "detective": "R. Ortiz"},
        ),
        cad_event(
            "case.updated", occurred_at="2026-12-05T10:00:00Z",  # late
            case={**case, "status": "report_approved"},
        ),
        cad_event(
            "case.updated", occurred_at="2026-12-07T10:00:00Z",  # behind the current one
            case={**case, "status": "report_approved"},
        ),
        cad_event(
            "case.updated", occurred_at="2026-12-08T10:00:00Z",
            case={**case, "status": "assigned_detective"},  # again: nothing new
        ),
        cad_event(
            "case.updated", occurred_at="2026-12-20T10:00:00Z",
            case={**case, "status": "closed"},
        ),
    )  # fmt: skip
    assert outcomes == ["applied", "stale", "stale", "stale", "applied"]
    call = the_call()
    assert (call.case_status, call.detective) == ("closed", "R. Ortiz")
    assert kinds() == ["acknowledgement", "closed", "case_update", "case_update"]


def test_phone_is_normalised_and_one_caller_per_number(app):
    first = created()
    first["caller"]["phone"] = "(541) 555-0199"
    second = cad_event("call.created", call_id="MPD-26-000002", occurred_at=at(30))
    second["caller"]["phone"] = "541.555.0199"
    feed(first, second)
    callers = db.session.scalars(select(Caller)).all()
    assert [c.phone for c in callers] == ["+15415550199"]


def test_language_from_the_cad_is_remembered(app):
    first = created()
    first["caller"]["language"] = "es-MX"
    feed(first)
    caller = the_call().caller
    assert (caller.language, caller.language_known) == ("es", True)
    assert the_call().messages[0].language == "es"
    assert "recibimos su llamada" in the_call().messages[0].body
    # A later call without a language: the caller's Spanish is remembered.
    feed(cad_event("call.created", call_id="MPD-26-000009", occurred_at=at(50)))
    later = the_call("MPD-26-000009")
    assert later.messages[0].language == "es"


def test_no_language_means_english_until_known(app):
    feed(created())
    caller = the_call().caller
    assert (caller.language, caller.language_known) == ("en", False)


def test_unsupported_language_leaves_english(app):
    event = created()
    event["caller"]["language"] = "vi"
    feed(event)
    assert the_call().caller.language == "en"
    assert the_call().caller.language_known is False


def test_email_only_caller(app):
    event = created()
    event["caller"] = {"phone": None, "email": "Ana@Example.org", "language": "es"}
    feed(event)
    caller = the_call().caller
    assert (caller.phone, caller.email) == (None, "ana@example.org")


def test_excluded_call_type_is_never_texted(app):
    feed(
        created(call={"type_code": "DV"}),
        cad_event("unit.assigned", occurred_at=at(5)),
        cad_event("call.closed", occurred_at=at(30), disposition="report_taken",
                  case={"number": "26-1"}),
        cad_event("case.updated", occurred_at=at(59), case={"number": "26-1", "status": "closed"}),
    )  # fmt: skip
    call = the_call()
    assert call.suppressed is True
    assert call.state == "closed"  # the state is still tracked
    assert db.session.scalars(select(Message)).all() == []
    assert runtime.current().queue(runtime.DEFAULT).scheduled_job_registry.get_job_ids() == []


def test_reclassified_into_excluded_type_stops_everything(app):
    feed(created(), cad_event("unit.assigned", occurred_at=at(5)))
    registry = runtime.current().queue(runtime.DEFAULT).scheduled_job_registry
    assert kinds() == ["acknowledgement", "assigned"]
    feed(cad_event("call.updated", occurred_at=at(6), call={"type_code": "DVO"}))
    call = the_call()
    assert call.suppressed is True
    assert {m.status for m in call.messages} == {"suppressed"}  # queued ones never go out
    feed(
        cad_event("call.closed", occurred_at=at(30), disposition="arrest"),
        # Reclassified back: still silent, suppression is for good.
        cad_event("call.updated", occurred_at=at(31), call={"type_code": "BURG"}),
    )
    assert kinds() == ["acknowledgement", "assigned"]
    assert registry.get_job_ids() == []  # no survey either


def test_reclassification_cancels_the_pending_delay_notice(app):
    feed(created())
    registry = runtime.current().queue(runtime.DEFAULT).scheduled_job_registry
    assert registry.get_job_ids() == [f"tenfour-delay-{the_call().id}"]
    feed(cad_event("call.updated", occurred_at=at(1), call={"type_code": "SA"}))
    assert registry.get_job_ids() == []


def test_late_reclassification_into_excluded_type_still_suppresses(app):
    feed(
        created(),
        cad_event("call.updated", occurred_at=at(10), call={"priority": 2}),
        cad_event("call.updated", occurred_at=at(5), call={"type_code": "DV"}),
    )
    assert the_call().suppressed is True


def test_late_priority_update_is_stale(app):
    outcomes = feed(
        created(),
        cad_event("call.updated", occurred_at=at(10), call={"priority": 1}),
        cad_event("call.updated", occurred_at=at(5), call={"priority": 4}),
    )
    assert outcomes == ["applied", "applied", "stale"]
    assert the_call().priority == 1


def test_opted_out_caller_gets_nothing(app):
    from bot.models import utcnow

    db.session.add(Caller(phone="+15415550123", opted_out_at=utcnow()))
    db.session.commit()
    feed(created(), cad_event("unit.assigned", occurred_at=at(5)))
    assert {m.status for m in the_call().messages} == {"suppressed"}


@pytest.fixture
def chatty_agency(settings_env, tmp_path: Path) -> dict:
    config = tmp_path / "agency.yml"
    config.write_text(
        "default_agency: MPD\n"
        "agencies:\n"
        "  MPD:\n"
        "    name: Medford Police\n"
        "    non_emergency_number: 541-770-4783\n"
        "    notify_events: [call.created, unit.enroute, unit.arrived, call.closed]\n"
        "  APD:\n"
        "    name: Ashland Police\n"
        "    non_emergency_number: 541-482-5211\n"
        "    show_officer: false\n"
    )
    settings_env["TENFOUR_AGENCY_CONFIG"] = str(config)
    return settings_env


def test_which_events_text_is_agency_configuration(chatty_agency, app):
    feed(
        created(),
        cad_event("unit.assigned", occurred_at=at(5)),
        cad_event("unit.enroute", occurred_at=at(6)),
        cad_event("unit.arrived", occurred_at=at(20)),
    )
    assert kinds() == ["acknowledgement", "enroute", "arrived"]


def test_agency_from_the_event(chatty_agency, app):
    event = created(call={"agency": "APD"})
    feed(event, cad_event("unit.assigned", occurred_at=at(5), call={"agency": "APD"}))
    call = the_call()
    assert call.agency == "APD"
    assert call.messages[0].body.startswith("Ashland Police:")
    assert "541-482-5211" in call.messages[0].body
    assert "J. Smith" not in call.messages[1].body  # APD does not show officers
