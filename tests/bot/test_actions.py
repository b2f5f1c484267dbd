"""Every custom action, driven as the engine drives it: recorded trackers posted to
`/rasa/actions` with the token, answers read back as the engine would read them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot import db
from bot.models import Conversation, Flag, Message, Rating, utcnow
from bot.ratings import SKIPPED
from tests.factories import create_call, create_caller

TOKEN = "test-rasa-token"


def tracker(
    text: str = "",
    intent: str = "ask_status",
    *,
    call_id: str | None = "MPD-26-004512",
    language: str = "en",
    message_id: int | None = None,
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    entities: list[dict[str, Any]] | None = None,
    sender_id: str = "sender-1",
) -> dict[str, Any]:
    """A tracker as Rasa 3.6 sends it to an action server (EventVerbosity.ALL)."""
    metadata: dict[str, Any] = {"language": language}
    if call_id:
        metadata["call_id"] = call_id
    if message_id:
        metadata["message_id"] = message_id
    latest = {
        "intent": {"name": intent, "confidence": 0.93},
        "entities": entities or [],
        "text": text,
        "message_id": "3f0c",
        "metadata": metadata,
    }
    user_event = {"event": "user", "timestamp": 1.0, "text": text, "parse_data": latest}
    return {
        "sender_id": sender_id,
        "slots": {
            "call_taker_rating": None,
            "officer_rating": None,
            "feedback_comment": None,
            "requested_slot": None,
            **(slots or {}),
        },
        "latest_message": latest,
        "latest_event_time": 1.0,
        "followup_action": None,
        "paused": False,
        "events": events if events is not None else [user_event],
        "latest_input_channel": "rest",
        "active_loop": {},
        "latest_action": {"action_name": "action_listen"},
        "latest_action_name": "action_listen",
    }


def run(client: Any, name: str, trk: dict[str, Any]) -> dict[str, Any]:
    payload = {"next_action": name, "sender_id": trk["sender_id"], "tracker": trk, "domain": {}}
    resp = client.post(f"/rasa/actions?token={TOKEN}", json=payload)
    assert resp.status_code == 200, resp.get_json()
    return dict(resp.get_json())


def texts(answer: dict[str, Any]) -> list[str]:
    return [r["text"] for r in answer["responses"]]


def slot_events(answer: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in answer["events"] if e["event"] == "slot"}


def flags(kind: str | None = None) -> list[Flag]:
    query = select(Flag).order_by(Flag.id)
    if kind:
        query = query.filter_by(kind=kind)
    return list(db.session.scalars(query).all())


@pytest.fixture
def caller(app):
    return create_caller()


@pytest.fixture
def call(caller):
    return create_call(caller, state="assigned", unit_id="2A31")


# --- protocol ---------------------------------------------------------------------------


def test_wrong_token_is_rejected(client, call):
    payload = {"next_action": "action_greet", "tracker": tracker()}
    assert client.post("/rasa/actions?token=nope", json=payload).status_code == 401


def test_unknown_action_answers_404_like_the_sdk(client, call):
    payload = {"next_action": "action_nope", "tracker": tracker()}
    resp = client.post(f"/rasa/actions?token={TOKEN}", json=payload)
    assert resp.status_code == 404
    assert resp.get_json()["action_name"] == "action_nope"


def test_every_action_in_the_domain_is_served():
    import yaml

    from bot.actions import ACTIONS
    from bot.config import PROJECT_ROOT

    domain = yaml.safe_load((PROJECT_ROOT / "nlu" / "domain.yml").read_text())
    missing = [a for a in domain["actions"] if a not in ACTIONS]
    assert missing == []


def test_call_is_found_from_the_conversation_when_metadata_is_missing(client, caller, call):
    db.session.add(Conversation(caller=caller, call=call, language="es", sender_id="conv-77"))
    db.session.commit()
    answer = run(client, "action_answer_status", tracker("?", call_id=None, sender_id="conv-77"))
    [text] = texts(answer)
    assert "MPD-26-004512" in text and "asignado" in text  # the conversation's language


def test_intent_is_recorded_on_the_inbound_message(client, caller, call):
    message = Message(direction="inbound", body="any update?", status="received", caller=caller)
    db.session.add(message)
    db.session.commit()
    run(client, "action_answer_status", tracker("any update?", message_id=message.id))
    db.session.expire_all()
    assert db.session.get(Message, message.id).intent == "ask_status"


# --- status, case -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "extra", "english", "spanish"),
    [
        ("received", {}, "No officer is assigned yet", "Aún no hay un oficial"),
        ("assigned", {"unit_id": "2A31"}, "assigned", "asignado"),
        ("assigned", {"diverted": True}, "more urgent call", "más urgente"),
        ("enroute", {}, "on the way", "en camino"),
        ("arrived", {}, "has arrived", "ya llegó"),
        ("closed", {"disposition": "advised"}, "is closed", "está cerrada"),
        ("closed", {"disposition": "gone_on_arrival"}, "had left", "ya se habían ido"),
    ],
)
def test_status_in_plain_words_from_the_live_call(client, caller, state, extra, english, spanish):
    create_call(caller, cad_id="MPD-26-000001", state=state, **extra)
    en = texts(run(client, "action_answer_status", tracker(call_id="MPD-26-000001")))
    es = texts(run(client, "action_answer_status", tracker(call_id="MPD-26-000001", language="es")))
    assert english in en[0] and "MPD-26-000001" in en[0]
    assert spanish in es[0]


def test_status_says_delayed_when_no_unit_past_the_delay_threshold(client, caller):
    create_call(
        caller, cad_id="MPD-26-000002", priority=3, created_at=utcnow() - timedelta(hours=1)
    )
    [text] = texts(run(client, "action_answer_status", tracker(call_id="MPD-26-000002")))
    assert "still waiting" in text and "911" in text


def test_status_of_a_closed_call_with_a_report_gives_the_case_number(client, caller):
    create_call(
        caller,
        cad_id="MPD-26-000003",
        state="closed",
        disposition="report_taken",
        case_number="26-5678",
    )
    [text] = texts(run(client, "action_answer_status", tracker(call_id="MPD-26-000003")))
    assert "26-5678" in text


def test_case_number_given_pending_or_none(client, caller):
    create_call(caller, cad_id="C1", state="closed", disposition="report_taken", case_number="26-1")
    create_call(caller, cad_id="C2", state="enroute")
    create_call(caller, cad_id="C3", state="closed", disposition="advised")
    given = texts(run(client, "action_answer_case_number", tracker(call_id="C1")))[0]
    pending = texts(run(client, "action_answer_case_number", tracker(call_id="C2")))[0]
    none = texts(run(client, "action_answer_case_number", tracker(call_id="C3", language="es")))
    assert "26-1" in given
    assert "still open" in pending
    assert "no hay número de caso" in none[0]


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (None, "is open"),
        ("report_approved", "approved"),
        ("assigned_detective", "detective"),
        ("suspect_arrested", "arrested"),
        ("closed", "is closed"),
    ],
)
def test_case_status_from_the_case(client, caller, status, words):
    create_call(caller, cad_id="C9", state="closed", case_number="26-9", case_status=status)
    [text] = texts(run(client, "action_answer_case_status", tracker(call_id="C9")))
    assert words in text and "26-9" in text


def test_a_call_action_without_any_call_answers_helpfully(client, app):
    [text] = texts(run(client, "action_answer_status", tracker(call_id=None)))
    assert "911" in text and "541-770-4783" in text


# --- what the caller tells us ---------------------------------------------------------


def test_add_info_is_flagged_for_dispatch_and_acknowledged(client, call):
    answer = run(client, "action_record_info", tracker("he left in a white truck", "add_info"))
    [flag] = flags("add_info")
    assert flag.text == "he left in a white truck" and flag.call_id == call.id
    assert "dispatch" in texts(answer)[0]


def test_cancel_request_tells_caller_dispatch_was_informed_not_that_it_is_cancelled(client, call):
    answer = run(client, "action_relay_cancel_request", tracker("he left, we're ok", "x"))
    [flag] = flags("cancel_request")
    assert "no longer need police" in flag.text
    [text] = texts(answer)
    assert "told dispatch" in text and "cancelled" not in text.lower()
    es = texts(run(client, "action_relay_cancel_request", tracker("ya se fue", language="es")))
    assert "Avisé a despacho" in es[0] and "cancelad" not in es[0]


def test_emergency_is_flagged_and_told_to_call_911(client, caller, call):
    message = Message(direction="inbound", body="he is back", status="received", caller=caller)
    db.session.add(message)
    db.session.commit()
    answer = run(client, "action_emergency", tracker("he is back", message_id=message.id))
    assert "call 911 now" in texts(answer)[0]
    assert len(flags("emergency")) == 1


def test_emergency_already_answered_by_the_fast_path_sends_no_second_911(client, caller, call):
    message = Message(direction="inbound", body="gun!", status="received", caller=caller)
    db.session.add(message)
    db.session.flush()
    db.session.add(Flag(kind="emergency", text="gun!", call=call, message_id=message.id))
    db.session.commit()
    answer = run(client, "action_emergency", tracker("gun!", message_id=message.id))
    assert texts(answer) == []
    assert len(flags("emergency")) == 1
    assert texts(run(client, "action_clarify", tracker("gun!", message_id=message.id))) == []


def test_callback_request_is_flagged(client, call):
    answer = run(client, "action_request_callback", tracker("can someone call me?"))
    assert len(flags("request_callback")) == 1
    assert "call you back" in texts(answer)[0]


def test_feedback_outside_the_form_is_stored_as_a_comment(client, call):
    answer = run(client, "action_record_feedback", tracker("the officer was very kind"))
    rating = db.session.scalars(select(Rating)).one()
    assert rating.comment == "the officer was very kind"
    assert rating.call_taker is None and rating.officer is None
    assert flags("complaint") == []
    assert "Thank you" in texts(answer)[0]


@pytest.mark.parametrize(
    "text", ["the officer was rude", "nobody ever came", "el oficial fue muy grosero"]
)
def test_complaint_is_flagged_for_a_supervisor(client, call, text):
    answer = run(client, "action_record_feedback", tracker(text))
    [flag] = flags("complaint")
    assert flag.text == text
    assert "supervisor" in texts(answer)[0]


# --- language, opt-out, honesty, fallbacks ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "before", "after", "words"),
    [
        ("english please", "es", "en", "in English"),
        ("en español por favor", "en", "es", "en español"),
        ("no hablo inglés", "en", "es", "en español"),
        ("I don't speak spanish", "es", "en", "in English"),
        ("other language please", "en", "es", "en español"),
    ],
)
def test_change_language_switches_and_confirms_in_the_new_language(
    client, caller, call, text, before, after, words
):
    caller.language = before
    db.session.add(Conversation(caller=caller, call=call, language=before, sender_id="c-lang"))
    db.session.commit()
    answer = run(
        client,
        "action_change_language",
        tracker(text, "change_language", language=before, sender_id="c-lang"),
    )
    assert words in texts(answer)[0]
    db.session.expire_all()
    assert db.session.get(type(caller), caller.id).language == after
    conv = db.session.scalars(select(Conversation).filter_by(sender_id="c-lang")).one()
    assert conv.language == after


def test_opt_out_in_words_is_stop_with_one_confirmation(client, caller, call, run_worker):
    pending = Message(
        direction="outbound", kind="assigned", body="x", status="queued", caller=caller
    )
    db.session.add(pending)
    db.session.commit()
    first = run(client, "action_opt_out", tracker("please stop texting me", "opt_out"))
    second = run(client, "action_opt_out", tracker("stop texting me!!", "opt_out"))
    assert texts(first) == texts(second) == []  # the confirmation goes as kind "compliance"
    run_worker()
    db.session.expire_all()
    assert db.session.get(type(caller), caller.id).opted_out
    sent = db.session.scalars(select(Message).filter_by(kind="compliance")).all()
    assert len(sent) == 1 and "unsubscribed" in sent[0].body
    assert sent[0].status == "delivered"
    assert db.session.get(Message, pending.id).status == "suppressed"


def test_bot_challenge_is_honest_and_gives_the_non_emergency_number(client, call):
    [text] = texts(run(client, "action_bot_challenge", tracker("are you a bot?")))
    assert "automated" in text and "541-770-4783" in text
    [es] = texts(run(client, "action_bot_challenge", tracker("eres robot?", language="es")))
    assert "automático" in es


def test_out_of_scope_points_to_the_non_emergency_number(client, call):
    [text] = texts(run(client, "action_out_of_scope", tracker("parking ticket?")))
    assert "541-770-4783" in text


@pytest.mark.parametrize("name", ["action_clarify", "action_default_fallback"])
def test_fallbacks_list_what_the_caller_can_ask(client, call, name):
    answer = run(client, name, tracker("purple monkey", "nlu_fallback"))
    [text] = texts(answer)
    assert "officer is coming" in text and "case number" in text
    if name == "action_default_fallback":
        assert {"event": "rewind", "timestamp": None} in answer["events"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("action_greet", "ask me about your call"),
        ("action_goodbye", "Take care"),
        ("action_thank", "welcome"),
        ("action_acknowledge", "OK."),
    ],
)
def test_small_talk(client, call, name, words):
    [text] = texts(run(client, name, tracker("x")))
    assert words in text


def test_every_answer_is_at_most_two_sms_segments_in_both_languages():
    from bot.actions import ACTIONS  # noqa: F401  (the keys the actions use live in these files)
    from bot.config import PROJECT_ROOT
    from responses import placeholders, render
    from responses.segments import segments

    params = {
        "call_number": "MPD-26-004512",
        "agency_name": "Medford Police",
        "non_emergency_number": "541-770-4783",
        "case_number": "26-005678",
    }
    for language in ("en", "es"):
        for area in ("dialogue", "compliance"):
            import yaml

            path = PROJECT_ROOT / "responses" / language / f"{area}.yml"
            for key, template in yaml.safe_load(path.read_text()).items():
                text = render(key, language, **{p: params[p] for p in placeholders(template)})
                assert segments(text) <= 2, (language, key, text)
                assert "http" not in text and "www." not in text


# --- the feedback form --------------------------------------------------------------------


def form_tracker(
    slot: str, value: Any, *, prior: list[dict[str, Any]] | None = None, **kw: Any
) -> dict[str, Any]:
    """The temporary tracker the form sends to validate_feedback_form: the candidate last."""
    text = value if isinstance(value, str) else str(value)
    events = [
        {"event": "active_loop", "timestamp": 1.0, "name": "feedback_form"},
        {"event": "slot", "timestamp": 1.0, "name": "requested_slot", "value": slot},
        *(prior or []),
        {"event": "user", "timestamp": 2.0, "text": text},
        {"event": "slot", "timestamp": 2.0, "name": "requested_slot", "value": slot},
        {"event": "action", "timestamp": 2.0, "name": "feedback_form"},
        {"event": "slot", "timestamp": 2.0, "name": slot, "value": value},
    ]
    intent = kw.pop("intent", "give_rating")
    return tracker(text, intent, events=events, slots={slot: value, "requested_slot": slot}, **kw)


@pytest.mark.parametrize(
    ("answer", "value"),
    [
        ("5", 5),
        ("cinco", 5),
        ("4 stars", 4),
        ("⭐⭐⭐⭐", 4),
        ("4/5", 4),
        ("excellent", 5),
        ("Excelente!", 5),
        ("le doy un 3", 3),
        ("skip", SKIPPED),
        ("no", SKIPPED),
        ("paso", SKIPPED),
        ("banana", None),
        ("4 or 5", None),
    ],
)
def test_validate_reads_ratings_in_both_languages(client, call, answer, value):
    result = run(client, "validate_feedback_form", form_tracker("call_taker_rating", answer))
    assert slot_events(result) == {"call_taker_rating": value}


def test_an_invalid_answer_is_asked_again_once_then_the_form_moves_on(client, call):
    first = run(client, "validate_feedback_form", form_tracker("officer_rating", "banana"))
    assert slot_events(first) == {"officer_rating": None}
    rejected = {"event": "slot", "timestamp": 2.0, "name": "officer_rating", "value": None}
    second = run(
        client,
        "validate_feedback_form",
        form_tracker("officer_rating", "no idea mate", prior=[rejected]),
    )
    assert slot_events(second) == {"officer_rating": SKIPPED}


def test_rating_entity_is_used_for_a_give_rating_text(client, call):
    entities = [{"entity": "rating", "value": "4", "start": 0, "end": 1}]
    result = run(
        client,
        "validate_feedback_form",
        form_tracker("call_taker_rating", "she was lovely, 4 from me", entities=entities),
    )
    assert slot_events(result) == {"call_taker_rating": 4}


def test_comment_is_kept_and_no_means_no_comment(client, call):
    kept = run(client, "validate_feedback_form", form_tracker("feedback_comment", "thanks all"))
    none = run(client, "validate_feedback_form", form_tracker("feedback_comment", "nada"))
    assert slot_events(kept) == {"feedback_comment": "thanks all"}
    assert slot_events(none) == {"feedback_comment": SKIPPED}


def test_no_officer_to_rate_when_no_unit_was_ever_sent(client, caller):
    create_call(caller, cad_id="C-NOUNIT", state="closed", disposition="cancelled")
    result = run(
        client, "validate_feedback_form", form_tracker("call_taker_rating", "5", call_id="C-NOUNIT")
    )
    assert slot_events(result) == {"call_taker_rating": 5, "officer_rating": SKIPPED}


def test_questions_in_order_and_a_different_question_after_a_bad_answer(client, call):
    first = texts(run(client, "action_ask_call_taker_rating", tracker("/start_survey")))[0]
    assert "call taker" in first and "1" in first and "5" in first and "SKIP" in first
    rejected = form_tracker("call_taker_rating", "banana")
    rejected["events"].append(
        {"event": "slot", "timestamp": 3.0, "name": "call_taker_rating", "value": None}
    )
    again = texts(run(client, "action_ask_call_taker_rating", rejected))[0]
    assert "didn't get that" in again
    officer = texts(run(client, "action_ask_officer_rating", tracker("5", language="es")))[0]
    assert "oficial" in officer and "PASO" in officer
    comment = texts(run(client, "action_ask_feedback_comment", tracker("4")))[0]
    assert "comment" in comment


def test_submit_stores_an_anonymous_rating_and_resets_the_form(client, call):
    slots = {"call_taker_rating": 5, "officer_rating": 4, "feedback_comment": "quick and kind"}
    answer = run(client, "action_submit_feedback", tracker("quick and kind", slots=slots))
    rating = db.session.scalars(select(Rating)).one()
    assert (rating.call_id, rating.call_taker, rating.officer) == (call.id, 5, 4)
    assert rating.comment == "quick and kind"
    assert not hasattr(rating, "officer_name") and not hasattr(rating, "call_taker_id")
    assert slot_events(answer) == {
        "call_taker_rating": None,
        "officer_rating": None,
        "feedback_comment": None,
    }
    assert "anonymous" in texts(answer)[0]


def test_submit_with_skips_and_a_complaint(client, call):
    slots = {"call_taker_rating": SKIPPED, "officer_rating": 1, "feedback_comment": "he was rude"}
    run(client, "action_submit_feedback", tracker("he was rude", slots=slots))
    rating = db.session.scalars(select(Rating)).one()
    assert (rating.call_taker, rating.officer) == (None, 1)
    assert [f.kind for f in flags()] == ["complaint"]
