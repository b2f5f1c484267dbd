"""A scripted day of CAD events, read back through `GET /api/v1/calls/<id>`.

Thirty-five calls in English and Spanish on Friday 4 December 2026 in Medford (times are
local): routine calls, delays, a diversion, late, duplicate and out-of-order events, a
call reclassified into an excluded type (once after its acknowledgement went out, once
before the worker got to it), an excluded type from the start, an opted-out caller, case
updates days later, quiet hours. Events go through the real signed endpoint; timers run
at their scheduled times on a simulated clock (`run_due_timers`); a real worker delivers
through the console channel between deliveries. The test then states, call by call,
exactly the texts a careful dispatcher would expect and checks nothing else was sent.

The survey invitation is the dialogue's: the timer hands over to
`bot.conversations.start_survey`, which asks the engine (here a stand-in on a loopback
port, `tests/fake_engine.py`, answering with the feedback form's first question) and
queues its answer as a "survey" text.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import db
from bot.models import Call, Caller, utcnow
from tests.factories import cad_event, drain_queues, post_cad_event, run_due_timers
from tests.fake_engine import FakeEngine

LA = ZoneInfo("America/Los_Angeles")
AUTH = {"Authorization": "Bearer test-admin-token"}
OFFICER = {"id": "2A31", "officer": {"name": "J. Smith", "badge": "1234"}}
FIRST_QUESTION = {
    "en": "How would you rate the person who took your call, from 1 to 5?",
    "es": "Del 1 al 5, ¿cómo lo atendió la persona que tomó su llamada?",
}


def local(hour: int, minute: int = 0, day: int = 4, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=LA)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Script:
    """CAD deliveries by the time they reach us; same time = same burst (no worker between)."""

    deliveries: list[tuple[datetime, int, dict]] = field(default_factory=list)
    _order: itertools.count = field(default_factory=itertools.count)

    def event(
        self,
        type_: str,
        call_id: str,
        occurred: datetime,
        delivered: datetime | None = None,
        twice: bool = False,
        **fields,
    ) -> dict:
        event = cad_event(type_, call_id=call_id, occurred_at=iso(occurred), **fields)
        when = delivered or occurred
        self.deliveries.append((when, next(self._order), event))
        if twice:  # the CAD retried: same event_id ten seconds later
            self.deliveries.append((when + timedelta(seconds=10), next(self._order), event))
        return event

    def created(self, call_id, at, phone, language=None, type_code="BURG", priority=3, **kw):
        caller = {"phone": phone, "email": None, "language": language}
        call = {"type_code": type_code, "priority": priority, **kw.pop("call", {})}
        return self.event("call.created", call_id, at, caller=caller, call=call, **kw)

    def bursts(self):
        ordered = sorted(self.deliveries, key=lambda d: (d[0], d[1]))
        for when, group in itertools.groupby(ordered, key=lambda d: d[0]):
            yield when, [event for _, _, event in group]


@dataclass
class Expected:
    texts: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    surveys: dict[str, datetime] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)


def sent(language: str, *kinds: str, status: str = "delivered") -> list[tuple[str, str, str]]:
    return [(kind, language, status) for kind in kinds]


DISPOSITIONS = ["advised", "gone_on_arrival", "report_taken", "unable_to_locate", "referred"]


def routine_calls(script: Script, expected: Expected) -> None:
    """Twenty ordinary calls, every half hour from 08:10: one in three in Spanish, one in
    four for Ashland, one in five delivered twice by a retrying CAD."""
    for i in range(20):
        call_id = f"MPD-26-0200{i:02d}"
        language = ("es", "en", None)[i % 3]
        agency = "APD" if i % 4 == 3 else "MPD"
        twice = i % 5 == 0
        start = local(8, 10) + timedelta(minutes=30 * i)
        unit = {"id": f"1A{i:02d}", "officer": {"name": f"K. Lee{i}", "badge": str(3000 + i)}}
        disposition = DISPOSITIONS[i % len(DISPOSITIONS)]
        case = {"number": f"26-20{i:02d}"} if disposition == "report_taken" else None
        at = {"agency": agency}
        script.created(call_id, start, f"+1541555{1000 + i}", language, call=at, twice=twice)
        for minutes, kind in ((6, "unit.assigned"), (8, "unit.enroute"), (20, "unit.arrived")):
            script.event(
                kind, call_id, start + timedelta(minutes=minutes), unit=unit, call=at, twice=twice
            )
        script.event(
            "call.closed", call_id, start + timedelta(minutes=45), disposition=disposition,
            case=case, call=at, twice=twice,
        )  # fmt: skip
        lang = language or "en"
        expected.texts[call_id] = sent(lang, "acknowledgement", "assigned", "closed")
        expected.surveys[call_id] = start + timedelta(minutes=75)
        expected.states[call_id] = "closed"


def special_calls(script: Script, expected: Expected) -> None:
    """Fifteen calls that each exercise something a dispatcher would worry about."""
    # A: nobody free for 28 minutes: the delay notice at 15 (priority 3).
    a = "MPD-26-030001"
    script.created(a, local(9, 3), "+15415552001", "en")
    script.event("unit.assigned", a, local(9, 31), unit=OFFICER)
    script.event("call.closed", a, local(10, 10), disposition="advised")
    expected.texts[a] = sent("en", "acknowledgement", "delay", "assigned", "closed")
    expected.surveys[a] = local(10, 40)

    # B: priority 1 waits 5 minutes before the delay notice (config/agency.yml), in Spanish.
    b = "MPD-26-030002"
    script.created(b, local(11, 0), "+15415552002", "es", priority=1)
    script.event("unit.assigned", b, local(11, 8), unit=OFFICER)
    script.event("unit.arrived", b, local(11, 12), unit=OFFICER)
    script.event("call.closed", b, local(11, 50), disposition="arrest", case={"number": "26-3002"})
    expected.texts[b] = sent("es", "acknowledgement", "delay", "assigned", "closed")
    expected.surveys[b] = local(12, 20)

    # C: priority 2 assigned at 9 minutes: inside its 10, no delay notice.
    c = "MPD-26-030003"
    script.created(c, local(11, 0), "+15415552003", "en", priority=2)
    script.event("unit.assigned", c, local(11, 9), unit=OFFICER)
    script.event("call.closed", c, local(11, 40), disposition="advised")
    expected.texts[c] = sent("en", "acknowledgement", "assigned", "closed")
    expected.surveys[c] = local(12, 10)

    # D: the unit is diverted to something worse, another is assigned; the delay timer at
    # 12:15 finds the call diverted (the caller was already told) and stays quiet.
    d = "MPD-26-030004"
    script.created(d, local(12, 0), "+15415552004", "en")
    script.event("unit.assigned", d, local(12, 4), unit=OFFICER)
    script.event("unit.enroute", d, local(12, 5), unit=OFFICER)
    script.event("unit.diverted", d, local(12, 12), unit=OFFICER)
    # The CAD re-sends the first assignment under a new id: older than the diversion.
    script.event("unit.assigned", d, local(12, 4), delivered=local(12, 14), unit=OFFICER)
    new_unit = {"id": "3B12", "officer": {"name": "A. Reyes", "badge": "5521"}}
    script.event("unit.assigned", d, local(12, 20), unit=new_unit)
    script.event("unit.arrived", d, local(12, 30), unit=new_unit)
    script.event("call.closed", d, local(13, 0), disposition="report_taken",
                 case={"number": "26-3004"})  # fmt: skip
    expected.texts[d] = sent("en", "acknowledgement", "assigned", "delay", "assigned", "closed")
    expected.surveys[d] = local(13, 30)

    # E: out of order. enroute beats assigned (which then is stale); a skewed "assigned"
    # after arrival; a late arrival after closing. The caller hears one unit is coming.
    e = "MPD-26-030005"
    script.created(e, local(13, 0), "+15415552005", None)
    script.event("unit.enroute", e, local(13, 6), unit=OFFICER)
    script.event("unit.assigned", e, local(13, 5), delivered=local(13, 7), unit=OFFICER)
    script.event("unit.arrived", e, local(13, 20), unit=OFFICER)
    script.event("unit.assigned", e, local(13, 25), unit=OFFICER)
    script.event("call.closed", e, local(13, 50), disposition="gone_on_arrival")
    script.event("unit.arrived", e, local(13, 40), delivered=local(14, 0), unit=OFFICER)
    expected.texts[e] = sent("en", "acknowledgement", "assigned", "closed")
    expected.surveys[e] = local(14, 20)

    # F: the assignment reaches us before call.created does.
    f = "MPD-26-030006"
    script.event("unit.assigned", f, local(14, 3), unit=OFFICER)
    script.created(f, local(14, 0), "+15415552006", "es", delivered=local(14, 4))
    script.event("call.closed", f, local(14, 40), disposition="advised")
    expected.texts[f] = sent("es", "acknowledgement", "assigned", "closed")
    expected.surveys[f] = local(15, 10)

    # G: reclassified as domestic violence four minutes in, after the acknowledgement went:
    # nothing more, no delay notice, no survey.
    g = "MPD-26-030007"
    script.created(g, local(15, 0), "+15415552007", "es")
    script.event("call.updated", g, local(15, 4), call={"type_code": "DV"})
    script.event("unit.assigned", g, local(15, 6), unit=OFFICER)
    script.event("call.closed", g, local(15, 40), disposition="report_taken",
                 case={"number": "26-3007"})  # fmt: skip
    expected.texts[g] = sent("es", "acknowledgement")

    # H: reclassified in the same burst as its creation: the queued acknowledgement never goes.
    h = "MPD-26-030008"
    script.created(h, local(15, 10), "+15415552008", "en")
    script.event("call.updated", h, local(15, 10, second=30), delivered=local(15, 10),
                 call={"type_code": "SA", "priority": 2})  # fmt: skip
    expected.texts[h] = sent("en", "acknowledgement", status="suppressed")
    expected.states[h] = "received"

    # I: a death investigation from the start: never a word.
    i = "MPD-26-030009"
    script.created(i, local(15, 20), "+15415552009", "en", type_code="DOA", priority=1)
    script.event("unit.assigned", i, local(15, 22), unit=OFFICER)
    script.event("call.closed", i, local(16, 30), disposition="referred")
    expected.texts[i] = []

    # J: the caller texted STOP last week: everything is suppressed, no survey.
    j = "MPD-26-030010"
    script.created(j, local(16, 0), "+15415559000", "en")
    script.event("unit.assigned", j, local(16, 5), unit=OFFICER)
    script.event("call.closed", j, local(16, 30), disposition="advised")
    expected.texts[j] = sent("en", "acknowledgement", "assigned", "closed", status="suppressed")

    # K: closed at 20:45: the survey would land at 21:15, inside quiet hours: 08:00 Saturday.
    k = "MPD-26-030011"
    script.created(k, local(20, 10), "+15415552011", "es")
    script.event("unit.assigned", k, local(20, 14), unit=OFFICER)
    script.event("call.closed", k, local(20, 45), disposition="report_taken",
                 case={"number": "26-3011"})  # fmt: skip
    expected.texts[k] = sent("es", "acknowledgement", "assigned", "closed")
    expected.surveys[k] = local(8, 0, day=5)

    # L: closed at 07:00: 07:30 is still quiet: 08:00 the same morning.
    ll = "MPD-26-030012"
    script.created(ll, local(6, 20), "+15415552012", "en")
    script.event("unit.assigned", ll, local(6, 25), unit=OFFICER)
    script.event("call.closed", ll, local(7, 0), disposition="unable_to_locate")
    expected.texts[ll] = sent("en", "acknowledgement", "assigned", "closed")
    expected.surveys[ll] = local(8, 0)

    # M: a report, then the case moves on over the day; a late old status and a retried
    # one change nothing.
    m = "MPD-26-030013"
    case = {"number": "26-3013"}
    script.created(m, local(8, 30), "+15415552013", "en")
    script.event("unit.assigned", m, local(8, 35), unit=OFFICER)
    script.event("call.closed", m, local(9, 10), disposition="report_taken", case=case)
    script.event("case.updated", m, local(14, 0), case={**case, "status": "report_approved"})
    detective = {**case, "status": "assigned_detective", "detective": "R. Ortiz"}
    script.event("case.updated", m, local(16, 0), case=detective)
    script.event("case.updated", m, local(13, 59), delivered=local(16, 30),
                 case={**case, "status": "report_approved"})  # fmt: skip
    script.event("case.updated", m, local(17, 0), twice=True,
                 case={**case, "status": "suspect_arrested"})  # fmt: skip
    script.event("case.updated", m, local(19, 0), case={**case, "status": "closed"})
    updates = ["case_update"] * 4
    expected.texts[m] = sent("en", "acknowledgement", "assigned", "closed", *updates)
    expected.surveys[m] = local(9, 40)

    # N: the Spanish caller of the 08:10 call calls again; the CAD gives no language now.
    n = "MPD-26-030014"
    script.created(n, local(18, 30), "+15415551000", None)
    script.event("unit.assigned", n, local(18, 35), unit=OFFICER)
    script.event("call.closed", n, local(18, 40), disposition="cancelled")
    expected.texts[n] = sent("es", "acknowledgement", "assigned", "closed")
    expected.surveys[n] = local(19, 10)

    # O: never got a unit; the caller called back to cancel.
    o = "MPD-26-030015"
    script.created(o, local(19, 0), "+15415552015", "en", priority=4)
    script.event("call.closed", o, local(19, 30), disposition="cancelled")
    expected.texts[o] = sent("en", "acknowledgement", "delay", "closed")
    expected.surveys[o] = local(20, 0)

    for call_id in (a, b, c, d, e, f, g, i, j, k, ll, m, n, o):
        expected.states.setdefault(call_id, "closed")


@pytest.fixture
def engine(settings_env) -> Iterator[FakeEngine]:
    engine = FakeEngine()
    engine.respond = lambda body: [FIRST_QUESTION[body["metadata"]["language"]]]
    settings_env["RASA_URL"] = engine.url
    yield engine
    engine.stop()


@pytest.fixture
def day_settings(settings_env, engine) -> dict:
    settings_env["TENFOUR_QUIET_HOURS"] = "21:00-08:00"
    settings_env["TENFOUR_TIMEZONE"] = "America/Los_Angeles"
    settings_env["TENFOUR_DELAY_NOTICE_AFTER"] = "15m"
    settings_env["TENFOUR_SURVEY_AFTER"] = "30m"
    return settings_env


def with_survey(texts: list[tuple[str, str, str]], language: str, at: int = 3) -> None:
    """The survey's first question comes after the closing text (or after `at` texts)."""
    texts.insert(at, ("survey", language, "delivered"))


def test_a_day_of_cad_events(day_settings, app, client, engine):
    db.session.add(Caller(phone="+15415559000", opted_out_at=utcnow()))  # texted STOP before
    db.session.commit()

    script, expected = Script(), Expected()
    routine_calls(script, expected)
    special_calls(script, expected)
    assert len(expected.texts) == 35
    for call_id in expected.surveys:
        texts = expected.texts[call_id]
        closing = [kind for kind, _, _ in texts].index("closed")
        with_survey(texts, texts[0][1], at=closing + 1)

    answers: dict[int, int] = {}
    timer_log: list[tuple[str, datetime, str]] = []
    for when, events in script.bursts():
        run_due_timers(when, timer_log)
        drain_queues()
        for event in events:
            resp = post_cad_event(client, event)
            answers[resp.status_code] = answers.get(resp.status_code, 0) + 1
        drain_queues()
    run_due_timers(local(23, 59, day=5), timer_log)
    drain_queues()

    unique = len({event["event_id"] for *_, event in script.deliveries})
    assert answers == {202: unique, 200: len(script.deliveries) - unique}

    # Every call, read back through the API: exactly the texts expected, nothing else.
    for call_id, texts in expected.texts.items():
        resp = client.get(f"/api/v1/calls/{call_id}", headers=AUTH)
        assert resp.status_code == 200, call_id
        data = resp.get_json()
        outbound = [m for m in data["messages"] if m["direction"] == "outbound"]
        got = [(m["kind"], m["language"], m["status"]) for m in outbound]
        assert got == texts, call_id
        assert data["call"]["state"] == expected.states[call_id], call_id
        for message in outbound:
            if message["kind"] == "survey":  # the engine's words: the form's first question
                assert message["body"] == FIRST_QUESTION[message["language"]]
            else:
                assert call_id in message["body"] or "26-3013" in message["body"], call_id
            assert "http" not in message["body"] and "www." not in message["body"]

    # Spot checks of what was said.
    def bodies(call_id: str) -> list[str]:
        data = client.get(f"/api/v1/calls/{call_id}", headers=AUTH).get_json()
        return [m["body"] for m in data["messages"] if m["direction"] == "outbound"]

    assert "Officer K. Lee0, badge 3000" not in bodies("MPD-26-020000")[1]  # Spanish
    assert "K. Lee0, placa 3000" in bodies("MPD-26-020000")[1]
    assert "K. Lee3" not in bodies("MPD-26-020003")[1]  # Ashland does not name officers
    assert bodies("MPD-26-020003")[0].startswith("Ashland Police:")
    assert "Officer A. Reyes, badge 5521, is now assigned" in bodies("MPD-26-030004")[3]
    assert "more urgent" in bodies("MPD-26-030004")[2]
    assert "su número de caso es" not in bodies("MPD-26-030002")[3]
    assert "Su número de caso es 26-3002" in bodies("MPD-26-030002")[3]
    assert "Detective R. Ortiz" in bodies("MPD-26-030013")[5]
    assert "recibimos su llamada" in bodies("MPD-26-030014")[0]

    # The surveys: which calls, and when (held back out of the quiet hours).
    ids = {c.id: c.cad_id for c in db.session.scalars(select(Call))}
    started = {
        ids[int(job_id.rsplit("-", 1)[1])]: when
        for job_id, when, result in timer_log
        if job_id.startswith("tenfour-survey-") and result == "started"
    }
    assert started == {k: v.astimezone(UTC) for k, v in expected.surveys.items()}
    asked = [r["metadata"]["call_id"] for r in engine.requests if r["message"] == "/start_survey"]
    assert sorted(asked) == sorted(expected.surveys)
    held = [ids[int(j.rsplit("-", 1)[1])] for j, _, r in timer_log if r == "held"]
    assert held == []  # held back when scheduled, so no job ever woke up inside quiet hours
