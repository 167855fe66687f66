"""E-mail over SMTP with aiosmtplib: a text and an HTML part, both from templates/messages/."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
from jinja2 import Environment

from companion.notify.transports import Notice, TransportError
from companion.settings import EmailSettings


class EmailTransport:
    channel = "email"

    def __init__(self, settings: EmailSettings, templates: Environment, base_url: str) -> None:
        self.settings = settings
        self.templates = templates
        self.base_url = base_url

    def compose(self, address: str, notice: Notice) -> EmailMessage:
        context = {"notice": notice, "link": self.base_url + notice.url}
        message = EmailMessage()
        message["From"] = self.settings.from_address
        message["To"] = address
        message["Subject"] = notice.title
        message.set_content(self.templates.get_template("messages/notice.txt").render(context))
        message.add_alternative(self.templates.get_template("messages/notice.html").render(context), subtype="html")
        return message

    async def send(self, target: object, notice: Notice, *, ttl: int) -> int:
        """``target`` is the recipient's address."""
        if not self.settings.enabled:
            raise TransportError("e-mail is not configured", permanent=True)
        if not isinstance(target, str) or "@" not in target:
            raise TransportError("no e-mail address", permanent=True)
        message = self.compose(target, notice)
        try:
            await aiosmtplib.send(
                message,
                hostname=self.settings.host,
                port=self.settings.port,
                username=self.settings.username or None,
                password=self.settings.password or None,
                use_tls=self.settings.security == "tls",
                start_tls=True if self.settings.security == "starttls" else False,
                timeout=self.settings.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise TransportError("the mail server refused the address", permanent=True) from exc
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise TransportError(
                f"mail server answered {exc.code}", permanent=permanent, status_code=exc.code
            ) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransportError(f"mail server unreachable: {type(exc).__name__}") from None
        return 250
