"""The system of record: callers, calls, CAD events, messages, conversations, ratings, flags.

Message life cycle (outbound)::

    queued ──send──▶ sending ──accepted──▶ sent ──callback──▶ delivered
       ▲                │                      └──callback──▶ undelivered / failed
       └──temporary─────┘ (retried with backoff until the message's deadline)
                        └──permanent──▶ failed
    suppressed: never sent (opted out, excluded call type, no address)

Inbound messages are `received` when recorded and `handled` once the turn was answered.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def _uuid() -> str:
    return uuid.uuid4().hex


class Caller(Base):
    """A person who called the police, by phone and/or email."""

    __tablename__ = "callers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    language: Mapped[str] = mapped_column(String(2), default="en")
    # True once the caller chose a language (CAD field or writing in it); then remembered.
    language_known: Mapped[bool] = mapped_column(default=False)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unreachable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    calls: Mapped[list[Call]] = relationship(back_populates="caller")

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


class Call(Base):
    """A call for service, as the CAD knows it. `state` only moves forward (bot.calls)."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    cad_id: Mapped[str] = mapped_column(String(64), unique=True)
    agency: Mapped[str | None] = mapped_column(String(32))
    type_code: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="received")
    # Excluded call type (now or ever): nothing more is texted about this call.
    suppressed: Mapped[bool] = mapped_column(default=False)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    unit_id: Mapped[str | None] = mapped_column(String(32))
    officer_name: Mapped[str | None] = mapped_column(String(128))
    officer_badge: Mapped[str | None] = mapped_column(String(32))
    diverted: Mapped[bool] = mapped_column(default=False)
    disposition: Mapped[str | None] = mapped_column(String(32))
    case_number: Mapped[str | None] = mapped_column(String(64))
    case_status: Mapped[str | None] = mapped_column(String(32))
    detective: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    caller: Mapped[Caller | None] = relationship(back_populates="calls")
    messages: Mapped[list[Message]] = relationship(back_populates="call", order_by="Message.id")
    flags: Mapped[list[Flag]] = relationship(back_populates="call", order_by="Flag.id")
    rating: Mapped[Rating | None] = relationship(back_populates="call")


class CadEvent(Base):
    """Every CAD event as received, for audit and de-duplication by `event_id`."""

    __tablename__ = "cad_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    call_cad_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON)
    # What applying it did: "applied", "stale" (late/out of order), "suppressed", ...
    outcome: Mapped[str | None] = mapped_column(String(32))


class Conversation(Base):
    """The dialogue between one caller and TenFour about their latest call."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The engine's sender id: opaque, so no phone number ever reaches the engine's stores.
    sender_id: Mapped[str] = mapped_column(String(32), unique=True, default=_uuid)
    caller_id: Mapped[int] = mapped_column(ForeignKey("callers.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"))
    language: Mapped[str] = mapped_column(String(2), default="en")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    caller: Mapped[Caller] = relationship()
    call: Mapped[Call | None] = relationship()


class Message(Base):
    """One text, either direction, on any channel (see the life cycle above)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("provider_sid", name="uq_messages_provider_sid"),
        Index("ix_messages_status_next_attempt", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    channel: Mapped[str] = mapped_column(String(8), default="sms")  # sms | email
    kind: Mapped[str | None] = mapped_column(String(16))  # CONTRACTS.md §4, outbound only
    language: Mapped[str | None] = mapped_column(String(2))
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    address: Mapped[str | None] = mapped_column(String(254))  # the caller's phone or email
    provider_sid: Mapped[str | None] = mapped_column(String(64))  # MessageSid either way
    intent: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column()
    media_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    send_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    call: Mapped[Call | None] = relationship(back_populates="messages")
    caller: Mapped[Caller | None] = relationship()


class Rating(Base):
    """The caller's survey answers for one call. Anonymous: no officer or call-taker id."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"), unique=True)
    call_taker: Mapped[int | None] = mapped_column(Integer)
    officer: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    call: Mapped[Call] = relationship(back_populates="rating")


class Flag(Base):
    """Something a person must look at: extra info for dispatch, an emergency, a complaint."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), index=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[str] = mapped_column(String(24))  # CONTRACTS.md §4
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    call: Mapped[Call | None] = relationship(back_populates="flags")
