"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every mail it receives, for tests that read them."""
from __future__ import annotations

import email
import re
import socket
from email.message import Message

from aiosmtpd.controller import Controller


class Mailbox:
    """The mails received, parsed; `links()` finds the addresses in their plain text."""

    def __init__(self):
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"

    def text_of(self, message: Message) -> str:
        for part in message.walk():
            if part.get_content_type() == "text/plain":
                return part.get_payload(decode=True).decode()
        return ""

    def html_of(self, message: Message) -> str:
        for part in message.walk():
            if part.get_content_type() == "text/html":
                return part.get_payload(decode=True).decode()
        return ""

    def links(self, message: Message) -> list[str]:
        return re.findall(r"https?://\S+", self.text_of(message))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """Start with `start()`, stop with `stop()`; `port` and `mailbox`."""

    def __init__(self):
        self.mailbox = Mailbox()
        self.port = _free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
