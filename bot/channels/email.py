"""Email through `SMTP_URL` (smtp:// with STARTTLS when offered, or smtps://).

Addresses never appear in errors or logs unmasked: SMTP servers echo them in their replies.
"""

from __future__ import annotations

import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

from bot.channels import ChannelError, OutcomeUnknownError, PermanentError, TemporaryError
from bot.logs import mask

TIMEOUT_SECONDS = 15


class EmailChannel:
    name = "email"
    # Handing the message to the relay is as far as we can follow it.
    delivers_immediately = True

    def __init__(self, smtp_url: str, sender: str) -> None:
        parts = urlsplit(smtp_url)
        self.secure = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.secure else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender
        self.domain = parseaddr(sender)[1].rpartition("@")[2] or "tenfour.local"

    def send(
        self, to: str, body: str, *, subject: str | None = None, reference: int | None = None
    ) -> str:
        sid = f"EM{uuid.uuid4().hex}"
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject or ""
        msg["Message-ID"] = f"<{sid}@{self.domain}>"
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to us
        msg.set_content(body)
        smtp = self._connect()
        try:
            smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # The connection broke while the message was on its way: it may have arrived.
            raise OutcomeUnknownError(f"smtp: {type(exc).__name__}", "no-answer") from exc
        finally:
            _quit(smtp)
        return sid

    def _connect(self) -> smtplib.SMTP:
        """An open, authenticated session; nothing was sent yet, so any failure is temporary."""
        try:
            smtp: smtplib.SMTP
            if self.secure:
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=TIMEOUT_SECONDS,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_SECONDS)
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
        except smtplib.SMTPResponseException as exc:
            # Wrong credentials or a refused greeting are fixed by people, not by waiting,
            # but they are not this message's fault: retry until its deadline.
            raise TemporaryError(
                f"smtp {exc.smtp_code} while connecting", str(exc.smtp_code)
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryError(f"smtp unreachable: {type(exc).__name__}", "network") from exc
        return smtp


def _by_code(code: int, reply: bytes | str) -> ChannelError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    message = f"smtp {code}: {mask(text)}"
    if 400 <= code < 500:
        return TemporaryError(message, str(code))
    return PermanentError(message, str(code))


def _refused(exc: smtplib.SMTPRecipientsRefused) -> ChannelError:
    # One recipient per message: its (code, reply) decides.
    code, reply = next(iter(exc.recipients.values()), (550, b"refused"))
    return _by_code(code, reply)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
