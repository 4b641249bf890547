"""A model's base URL reaches only allowed addresses: never link-local or metadata services, private and
loopback hosts only when the operator opts in, checked on every address a name resolves to, at the
moment of connecting; and a user sees a generic sentence where the provider's words would be."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from app.llm.addresses import RefusedAddress, check_url
from app.llm.anthropic import AnthropicProvider
from app.llm.base import ChatMessage, GenerationRequest, ProviderError
from app.llm.openai import OpenAIProvider
from tests.fakes.openai_server import FakeOpenAIServer

ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/v1", "http://100.100.100.200/v1",
    "http://[fd00:ec2::254]/v1", "http://metadata.google.internal/computeMetadata/v1",
    "http://[::ffff:169.254.169.254]/v1", "http://0.0.0.0:11434/v1",
]
PRIVATE = [
    "http://127.0.0.1:11434/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1", "http://10.0.0.5:8000/v1",
    "http://172.16.3.4/v1", "http://192.168.1.20:1234/v1", "http://[fd12:3456::1]/v1", "http://[::ffff:127.0.0.1]/v1",
]


def request_for(base_url: str) -> GenerationRequest:
    return GenerationRequest(model_id="model-x", base_url=base_url, api_key="sk-test-key",
                             messages=[ChatMessage("user", "Hi")], timeout=5)


def refusal_of(stream) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        list(stream)
    return raised.value


@pytest.fixture
def fake_dns(monkeypatch):
    """Names under .test resolve to what the test says, in order for successive lookups; others as usual."""
    answers: dict[str, list[list[str]]] = {}
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            queue = answers[host]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in addresses]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_link_local_and_metadata_addresses_are_always_refused(url, allow_private):
    with pytest.raises(RefusedAddress, match="never allowed"):
        check_url(url, allow_private=allow_private)


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_loopback_hosts_need_the_operator_opt_in(url):
    with pytest.raises(RefusedAddress, match="STUDIO_ALLOW_PRIVATE_MODEL_HOSTS"):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.org/v1", "file:///etc/passwd", "localhost:11434/v1", "gopher://x/"])
def test_only_http_and_https_are_accepted(url):
    with pytest.raises(RefusedAddress, match="http:// or https://"):
        check_url(url, allow_private=True)


def test_a_public_address_is_accepted():
    check_url("https://8.8.8.8/v1", allow_private=False)


def test_a_name_is_refused_when_any_of_its_addresses_is(fake_dns):
    fake_dns["mixed.test"] = [["8.8.8.8", "169.254.169.254"]]
    with pytest.raises(RefusedAddress, match="mixed.test resolves to 169.254.169.254"):
        check_url("https://mixed.test/v1", allow_private=True)


@pytest.mark.parametrize("provider_class", [OpenAIProvider, AnthropicProvider])
def test_without_the_opt_in_a_loopback_provider_is_never_contacted(provider_class):
    with FakeOpenAIServer() as fake:
        error = refusal_of(provider_class().stream(request_for(fake.base_url)))
    assert error.code == "refused" and "private or loopback" in error.message and fake.requests == []
    assert error.user_message == "This model is not set up correctly. An admin can see the details."


def test_with_the_opt_in_metadata_is_still_refused_before_any_connection(monkeypatch):
    opened = []
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: opened.append(args))
    error = refusal_of(OpenAIProvider(allow_private_hosts=True).stream(request_for("http://169.254.169.254/v1")))
    assert error.code == "refused" and "never allowed" in error.message and opened == []


def test_a_name_that_rebinds_to_metadata_after_the_check_is_refused_when_connecting(fake_dns):
    """The first lookup (the URL check) says loopback, the one made to connect says metadata."""
    with FakeOpenAIServer() as fake:
        fake_dns["rebind.test"] = [["127.0.0.1"], ["169.254.169.254"]]
        url = fake.base_url.replace("127.0.0.1", "rebind.test")
        error = refusal_of(OpenAIProvider(allow_private_hosts=True).stream(request_for(url)))
    assert error.code == "refused" and "169.254.169.254" in error.message and fake.requests == []


def test_a_name_is_connected_to_at_the_address_that_was_checked(fake_dns):
    with FakeOpenAIServer() as fake:
        fake_dns["models.test"] = [["127.0.0.1"]]
        events = list(OpenAIProvider(allow_private_hosts=True).stream(
            request_for(fake.base_url.replace("127.0.0.1", "models.test"))))
    assert events and fake.requests[0].headers["host"] == f"models.test:{fake.port}"


@pytest.mark.parametrize("mode", ["429", "500", "error_event"])
def test_the_providers_words_are_for_admins_the_user_gets_a_generic_sentence(mode):
    marker = "UPSTREAM-MARKER-7f3a"
    with FakeOpenAIServer() as fake:
        fake.scenario.mode, fake.scenario.error_message = mode, f"internal detail {marker}"
        error = refusal_of(OpenAIProvider(allow_private_hosts=True).stream(request_for(fake.base_url)))
    assert marker in error.message
    assert marker not in error.user_message and "An admin can see the details." in error.user_message
    if mode != "error_event":
        assert f"(HTTP {mode})" in error.user_message


def test_ipv4_mapped_and_nat64_forms_are_judged_by_their_ipv4_address():
    from app.llm.addresses import refusal_for_address

    for text in ["::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"]:
        assert "never allowed" in refusal_for_address(ipaddress.ip_address(text), allow_private=True)
