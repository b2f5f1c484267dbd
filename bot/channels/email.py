"""Email through `SMTP_URL` (smtp:// with STARTTLS when offered, or smtps://)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from bot.channels import PermanentError, TemporaryError


class EmailChannel:
    name = "email"
    delivers_immediately = True

    def __init__(self, smtp_url: str, sender: str) -> None:
        parts = urlsplit(smtp_url)
        self.secure = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.secure else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender

    def send(self, to: str, body: str, *, subject: str | None = None) -> str:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject or "Your call to the police"
        msg["Message-ID"] = make_msgid(domain="tenfour.local")
        msg.set_content(body)
        try:
            smtp_cls = smtplib.SMTP_SSL if self.secure else smtplib.SMTP
            with smtp_cls(self.host, self.port, timeout=15) as smtp:
                if not self.secure and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"recipient refused: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryError(f"smtp: {exc}") from exc
        return str(msg["Message-ID"])
