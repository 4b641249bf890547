"""Provider name → implementation. Adding a provider is one module and one line here."""
from __future__ import annotations

from importlib import import_module

from app.llm.base import Provider

# Imported on first use, so the app starts without loading every HTTP client.
PROVIDERS: dict[str, str] = {
    "openai": "app.llm.openai:OpenAIProvider",
    "anthropic": "app.llm.anthropic:AnthropicProvider",
    "echo": "app.llm.echo:EchoProvider",
}


class UnknownProvider(KeyError):
    pass


def get_provider(name: str) -> Provider:
    try:
        module_name, class_name = PROVIDERS[name].split(":")
    except KeyError:
        raise UnknownProvider(name) from None
    return getattr(import_module(module_name), class_name)()
