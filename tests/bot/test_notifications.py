"""What callers are told: the texts in both languages, and the delay and survey timers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from rq.job import Job
from sqlalchemy import select

from bot import cad, calls, conversations, db, notifications, runtime
from bot.config import PROJECT_ROOT, load_settings
from bot.models import Call, Message, utcnow
from responses import placeholders, render
from responses.segments import segments
from tests.factories import cad_event, drain_queues, run_due_timers
from tests.fake_engine import FakeEngine

RESPONSES = PROJECT_ROOT / "responses"
T0 = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # 10:00 in Medford
LA = ZoneInfo("America/Los_Angeles")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def feed(*events: dict) -> None:
    for event in events:
        calls.receive(cad.parse(event))


def the_call(cad_id: str = "MPD-26-004512") -> Call:
    db.session.expire_all()
    return db.session.scalars(select(Call).filter_by(cad_id=cad_id)).one()


def outbound(cad_id: str = "MPD-26-004512") -> list[Message]:
    return [m for m in the_call(cad_id).messages if m.direction == "outbound"]


def scheduled() -> dict[str, datetime]:
    registry = runtime.current().queue(runtime.DEFAULT).scheduled_job_registry
    return {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}


def created(at: datetime = T0, language: str | None = None, **kw) -> dict:
    event = cad_event("call.created", occurred_at=iso(at), **kw)
    event["caller"]["language"] = language
    return event


# --- the texts ----------------------------------------------------------------------------------


def notification_texts(language: str) -> dict[str, str]:
    return yaml.safe_load((RESPONSES / language / "notifications.yml").read_text("utf-8"))


def test_both_languages_have_the_same_keys_and_placeholders():
    en, es = notification_texts("en"), notification_texts("es")
    assert en.keys() == es.keys()
    for key in en:
        assert placeholders(en[key]) == placeholders(es[key]), key


def test_every_disposition_and_case_status_has_its_sentence():
    keys = notification_texts("en").keys()
    for disposition in notifications.DISPOSITIONS:
        assert f"notify_closed_{disposition}" in keys
    for status in notifications.CASE_STATUSES:
        assert f"notify_case_{status}" in keys
    schema = cad.schema()["properties"]
    assert set(schema["disposition"]["enum"]) - {None} == set(notifications.DISPOSITIONS)
    assert set(schema["case"]["properties"]["status"]["enum"]) - {None} == set(
        notifications.CASE_STATUSES
    )


# Long but real values: the longest agency name and number in the config, long ids.
WORST_CASE = {
    "call_number": "MPD-26-004512-0001",
    "case_number": "26-0056781-CR",
    "officer_name": "M. Rodríguez-Núñez",
    "badge": "123456",
    "detective": "A. Gutiérrez-Peña",
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_text_fits_the_agency_segment_budget(language):
    settings = load_settings({"TENFOUR_INSTANCE_PATH": "/tmp/tenfour-unused", "RASA_TOKEN": "x"})
    for agency in settings.agencies.values():
        params = {
            **WORST_CASE,
            "agency_name": agency.name,
            "non_emergency_number": agency.non_emergency_number,
        }
        for key in notification_texts(language):
            body = render(key, language, agency.overrides, **params)
            if key.startswith("notify_closed_") and key != "notify_closed_report_taken":
                body += " " + render("notify_case_number", language, **params)
            assert segments(body) <= agency.segment_budget, (language, key, len(body))


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_links_and_no_location_in_any_text(language):
    for key, template in notification_texts(language).items():
        assert not re.search(r"https?:|www\.|\.(com|org|gov|net)\b", template), key
        assert not placeholders(template) & {"address", "location", "street", "suspect"}, key


def test_spanish_is_written_in_spanish():
    es = notification_texts("es")
    assert "¿Emergencia?" in es["notify_acknowledgement"]
    assert "número" in es["notify_acknowledgement"]
    assert "llegó" in es["notify_arrived"]
    en = notification_texts("en")
    assert all(es[key] != en[key] for key in en)


def test_acknowledgement_has_call_number_and_non_emergency_number(app):
    feed(created())
    [ack] = outbound()
    assert ack.kind == "acknowledgement"
    assert ack.body.startswith("Medford Police:")
    assert "MPD-26-004512" in ack.body and "541-770-4783" in ack.body and "911" in ack.body


def test_officer_name_and_badge_when_the_agency_allows(app):
    feed(created(), cad_event("unit.assigned", occurred_at=iso(T0 + timedelta(minutes=3))))
    assigned = outbound()[1]
    assert assigned.kind == "assigned"
    assert "Officer J. Smith, badge 1234" in assigned.body


def test_officer_hidden_when_the_agency_does_not_allow(app):
    apd = {"agency": "APD"}
    feed(
        created(call=apd),
        cad_event("unit.assigned", occurred_at=iso(T0 + timedelta(minutes=3)), call=apd),
    )
    assigned = outbound()[1]
    assert "J. Smith" not in assigned.body and "1234" not in assigned.body
    assert assigned.body.startswith("Ashland Police: an officer is assigned")


def test_officer_without_a_badge_is_not_named(app):
    unit = {"id": "2A31", "officer": {"name": "J. Smith", "badge": None}}
    feed(created(), cad_event("unit.assigned", occurred_at=iso(T0), unit=unit))
    assert "J. Smith" not in outbound()[1].body


@pytest.mark.parametrize(
    ("disposition", "case", "expected"),
    [
        ("report_taken", {"number": "26-5678"}, "took a report; your case number is 26-5678"),
        ("gone_on_arrival", None, "had already left"),
        ("unable_to_locate", None, "could not find"),
        ("advised", None, "gave advice"),
        ("arrest", {"number": "26-9001"}, "made an arrest. Your case number is 26-9001."),
        ("referred", None, "referred to another agency"),
        ("cancelled", None, "was cancelled"),
    ],
)
def test_closed_in_plain_words(app, disposition, case, expected):
    closed = cad_event("call.closed", occurred_at=iso(T0), disposition=disposition, case=case)
    feed(created(), closed)
    message = outbound()[-1]
    assert message.kind == "closed"
    assert expected in message.body


def test_closed_in_spanish(app):
    closed = cad_event(
        "call.closed", occurred_at=iso(T0), disposition="report_taken", case={"number": "26-77"}
    )
    feed(created(language="es"), closed)
    assert "su número de caso es 26-77" in outbound()[-1].body
    assert outbound()[-1].language == "es"


@pytest.mark.parametrize(
    ("status", "detective", "expected"),
    [
        ("report_approved", None, "the report for your case 26-5678 was approved"),
        ("assigned_detective", None, "a detective has been assigned"),
        ("assigned_detective", "R. Ortiz", "Detective R. Ortiz has been assigned"),
        ("suspect_arrested", None, "an arrest has been made in your case 26-5678"),
        ("closed", None, "case 26-5678 is now closed. Questions? Call 541-770-4783"),
    ],
)
def test_case_updates(app, status, detective, expected):
    case = {"number": "26-5678", "status": status, "detective": detective}
    feed(created(), cad_event("case.updated", occurred_at=iso(T0), case=case))
    message = outbound()[-1]
    assert message.kind == "case_update"
    assert expected in message.body


@pytest.fixture
def overridden(settings_env, tmp_path):
    config = tmp_path / "agency.yml"
    config.write_text(
        "agencies:\n"
        "  MPD:\n"
        "    name: Medford Police\n"
        "    non_emergency_number: 541-770-4783\n"
        "    overrides:\n"
        "      en:\n"
        "        notify_acknowledgement: 'MPD got call {call_number}. 911 if urgent.'\n"
    )
    settings_env["TENFOUR_AGENCY_CONFIG"] = str(config)


def test_agency_override_replaces_a_text(overridden, app):
    feed(created())
    assert outbound()[0].body == "MPD got call MPD-26-004512. 911 if urgent."


# --- the delay notice ----------------------------------------------------------------------------


def test_delay_notice_is_scheduled_per_priority(app):
    feed(
        created(),  # priority 3: TENFOUR_DELAY_NOTICE_AFTER, 15m by default
        created(call_id="MPD-26-000001", call={"priority": 1}),  # 5m in config/agency.yml
    )
    jobs = scheduled()
    assert jobs[f"tenfour-delay-{the_call().id}"] == T0 + timedelta(minutes=15)
    assert jobs[f"tenfour-delay-{the_call('MPD-26-000001').id}"] == T0 + timedelta(minutes=5)


def test_delay_notice_goes_once_when_no_unit_came(app):
    feed(created())
    assert run_due_timers(T0 + timedelta(minutes=14)) == []
    call_id = the_call().id
    assert run_due_timers(T0 + timedelta(minutes=15)) == [(f"tenfour-delay-{call_id}", "sent")]
    [_, delay] = outbound()
    assert delay.kind == "delay"
    assert "haven't forgotten your call MPD-26-004512" in delay.body
    assert notifications.delay_notice(call_id, now=T0 + timedelta(hours=1)) == "already-sent"
    assert [m.kind for m in outbound()] == ["acknowledgement", "delay"]


def test_assignment_cancels_the_delay_notice(app):
    feed(created())
    call_id = the_call().id
    feed(cad_event("unit.assigned", occurred_at=iso(T0 + timedelta(minutes=10))))
    assert scheduled() == {}
    # Even a job that had already been taken by a worker re-checks and sends nothing.
    assert notifications.delay_notice(call_id, now=T0 + timedelta(minutes=15)) == "not-needed"
    assert [m.kind for m in outbound()] == ["acknowledgement", "assigned"]


def test_priority_change_moves_the_delay_notice(app):
    feed(created())
    call_id = the_call().id
    feed(
        cad_event("call.updated", occurred_at=iso(T0 + timedelta(minutes=1)), call={"priority": 1})
    )
    assert scheduled()[f"tenfour-delay-{call_id}"] == T0 + timedelta(minutes=5)
    feed(
        cad_event("call.updated", occurred_at=iso(T0 + timedelta(minutes=2)), call={"priority": 4})
    )
    assert scheduled()[f"tenfour-delay-{call_id}"] == T0 + timedelta(minutes=15)


def test_delay_job_that_fires_early_waits_for_its_time(app):
    feed(created())
    call_id = the_call().id
    assert notifications.delay_notice(call_id, now=T0 + timedelta(minutes=1)) == "rescheduled"
    assert scheduled()[f"tenfour-delay-{call_id}"] == T0 + timedelta(minutes=15)


@pytest.fixture
def no_delay(settings_env) -> dict:
    settings_env["TENFOUR_DELAY_NOTICE_AFTER"] = "0s"
    return settings_env


def test_delay_notice_through_the_real_scheduler_and_worker(no_delay, app):
    """With TENFOUR_DELAY_NOTICE_AFTER=0s the job is due at once: RQ's scheduler moves it
    to the queue, a real worker runs it and the console channel delivers the text."""
    from rq.scheduler import RQScheduler

    feed(created(at=utcnow(), call={"priority": 4}))
    rt = runtime.current()
    scheduler = RQScheduler([rt.queue(runtime.DEFAULT)], connection=rt.redis)
    scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    scheduler.release_locks()
    drain_queues()
    statuses = [(m.kind, m.status) for m in outbound()]
    assert statuses == [("acknowledgement", "delivered"), ("delay", "delivered")]


# --- the survey --------------------------------------------------------------------------------


@pytest.fixture
def surveys(monkeypatch) -> list[int]:
    """Records the hand-over to the dialogue (the engine is not running in these tests)."""
    started: list[int] = []
    monkeypatch.setattr(conversations, "start_survey", started.append, raising=False)
    return started


@pytest.fixture
def quiet_hours(settings_env) -> dict:
    settings_env["TENFOUR_QUIET_HOURS"] = "21:00-08:00"
    return settings_env


def close_at(moment: datetime, **kw) -> dict:
    return cad_event("call.closed", occurred_at=iso(moment), disposition="advised", **kw)


def test_survey_after_closing(quiet_hours, app, surveys):
    feed(created(), close_at(T0 + timedelta(minutes=40)))
    call_id = the_call().id
    assert scheduled() == {f"tenfour-survey-{call_id}": T0 + timedelta(minutes=70)}
    assert run_due_timers(T0 + timedelta(minutes=69)) == []
    assert run_due_timers(T0 + timedelta(minutes=70)) == [(f"tenfour-survey-{call_id}", "started")]
    assert surveys == [call_id]


def test_survey_held_back_during_quiet_hours(quiet_hours, app, surveys):
    evening = datetime(2026, 12, 4, 20, 50, tzinfo=LA)
    feed(created(at=evening - timedelta(hours=1)), close_at(evening))
    call_id = the_call().id
    morning = datetime(2026, 12, 5, 8, 0, tzinfo=LA)
    assert scheduled() == {f"tenfour-survey-{call_id}": morning.astimezone(UTC)}
    assert run_due_timers(morning - timedelta(minutes=1)) == []
    assert run_due_timers(morning) == [(f"tenfour-survey-{call_id}", "started")]


def test_survey_job_that_runs_late_into_quiet_hours_waits_for_morning(quiet_hours, app, surveys):
    feed(created(), close_at(T0))
    call_id = the_call().id
    night = datetime(2026, 12, 4, 23, 30, tzinfo=LA)  # the worker was down all evening
    assert notifications.survey_invitation(call_id, now=night) == "held"
    assert scheduled()[f"tenfour-survey-{call_id}"] == datetime(2026, 12, 5, 8, tzinfo=LA)
    assert surveys == []


def test_no_survey_for_suppressed_or_opted_out_callers(app, surveys):
    feed(created(), close_at(T0 + timedelta(minutes=30)))
    call = the_call()
    call.caller.opted_out_at = utcnow()
    db.session.commit()
    assert notifications.survey_invitation(call.id, now=T0 + timedelta(hours=1)) == "opted-out"
    call.caller.opted_out_at = None
    call.suppressed = True
    db.session.commit()
    assert notifications.survey_invitation(call.id, now=T0 + timedelta(hours=1)) == "not-needed"
    assert surveys == []


def test_no_second_survey(app, surveys):
    feed(created(), close_at(T0))
    call = the_call()
    db.session.add(
        Message(direction="outbound", kind="survey", body="¿Cómo lo hicimos?", status="queued",
                call=call, caller=call.caller)
    )  # fmt: skip
    db.session.commit()
    assert notifications.survey_invitation(call.id, now=T0 + timedelta(hours=1)) == "already-sent"
    assert surveys == []


@pytest.fixture
def engine(settings_env) -> Iterator[FakeEngine]:
    engine = FakeEngine()
    settings_env["RASA_URL"] = engine.url
    yield engine
    engine.stop()


def test_survey_hands_over_to_the_dialogue(engine, app):
    """The real hand-over: the engine (a stand-in on a loopback port) gets /start_survey and
    its first question goes out as the "survey" text, in the caller's language."""
    engine.respond = lambda body: ["Del 1 al 5, ¿cómo lo atendió la persona que tomó su llamada?"]
    feed(created(language="es"), close_at(T0))
    call_id = the_call().id
    assert run_due_timers(T0 + timedelta(minutes=30)) == [(f"tenfour-survey-{call_id}", "started")]
    drain_queues()
    [request] = engine.requests
    assert request["message"] == "/start_survey"
    assert request["metadata"]["call_id"] == "MPD-26-004512"
    assert [(m.kind, m.language, m.status) for m in outbound()] == [
        ("acknowledgement", "es", "delivered"),
        ("closed", "es", "delivered"),
        ("survey", "es", "delivered"),
    ]


def test_survey_job_is_a_real_rq_job(app):
    feed(created(), close_at(T0))
    call_id = the_call().id
    job = Job.fetch(f"tenfour-survey-{call_id}", connection=runtime.current().redis)
    assert job.func is notifications.survey_invitation
    assert job.args == (call_id,)


# --- quiet hours ---------------------------------------------------------------------------------


QUIET = (time(21, 0), time(8, 0))


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 12, 4, 20, 59, tzinfo=LA), None),
        (datetime(2026, 12, 4, 21, 0, tzinfo=LA), datetime(2026, 12, 5, 8, 0, tzinfo=LA)),
        (datetime(2026, 12, 4, 23, 59, tzinfo=LA), datetime(2026, 12, 5, 8, 0, tzinfo=LA)),
        (datetime(2026, 12, 5, 3, 0, tzinfo=LA), datetime(2026, 12, 5, 8, 0, tzinfo=LA)),
        (datetime(2026, 12, 5, 8, 0, tzinfo=LA), None),
        # The night the clocks go forward: 08:00 is still 08:00 local.
        (datetime(2027, 3, 14, 1, 0, tzinfo=LA), datetime(2027, 3, 14, 8, 0, tzinfo=LA)),
    ],
)
def test_quiet_until_across_midnight(local, expected):
    result = notifications.quiet_until(local.astimezone(UTC), QUIET, LA)
    assert result == (expected.astimezone(UTC) if expected else None)


def test_quiet_hours_within_a_day_and_off():
    lunch = (time(12, 0), time(13, 0))
    inside = datetime(2026, 12, 4, 12, 30, tzinfo=LA)
    assert notifications.quiet_until(inside, lunch, LA) == datetime(2026, 12, 4, 13, tzinfo=LA)
    assert notifications.quiet_until(inside, None, LA) is None
