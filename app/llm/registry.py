"""Provider name → implementation. Adding a provider is one module and one line here."""
from __future__ import annotations

from collections.abc import Mapping

from app.llm.anthropic import AnthropicProvider
from app.llm.base import Provider
from app.llm.echo import EchoProvider
from app.llm.openai import OpenAIProvider

PROVIDERS: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "echo": EchoProvider,
}


class UnknownProvider(KeyError):
    """No provider has this name (a registry row naming a provider this version does not have)."""


def get_provider(name: str, config: Mapping | None = None) -> Provider:
    """A ready provider for `name`, set up from `config` (the app's settings; none: the defaults).
    Raises UnknownProvider for a name not in PROVIDERS."""
    try:
        provider_class = PROVIDERS[name]
    except KeyError:
        raise UnknownProvider(name) from None
    return provider_class.from_config(config or {})
