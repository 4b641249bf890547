"""POSTing a JSON request to a provider and reading its answer as Server-Sent Events, and turning
every HTTP or network failure on the way into a ProviderError a person can read.

Messages name the provider through `label`, as it reads mid-sentence ("the provider", "Anthropic").
Anything the provider wrote that ends up in a message passes through `provider_detail()`, which
removes the API key in case the provider echoed it back. Such messages are for admins and logs;
users are shown `ProviderError.user_message`.

Every connection goes only to an address `addresses.py` allows: the URL is checked before the
request, and the host is resolved again and each address checked when the connection is opened.
"""
from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpcore
import httpx

from app.llm.addresses import RefusedAddress, check_url, checked_addresses
from app.llm.base import GenerationRequest, Provider, ProviderError
from app.llm.sse import ServerSentEvent, SSEDecoder

CONNECT_TIMEOUT = 10.0
DETAIL_LIMIT = 300
REDACTED = "[redacted]"

_clients: dict[bool, httpx.Client] = {}  # one per "private hosts allowed?"
_client_pid: int | None = None
_client_lock = threading.Lock()


class HTTPProvider(Provider):
    """A provider reached over HTTP; private and loopback hosts only when the operator allows them."""

    def __init__(self, allow_private_hosts: bool = False):
        self.allow_private_hosts = allow_private_hosts

    @classmethod
    def from_config(cls, config: Mapping) -> HTTPProvider:
        return cls(allow_private_hosts=bool(config.get("ALLOW_PRIVATE_MODEL_HOSTS", False)))

    def body(self, request: GenerationRequest) -> dict:
        """The JSON body of the request, in the provider's own shape."""
        raise NotImplementedError

    def post_events(self, request: GenerationRequest, url: str, headers: dict[str, str],
                    label: str) -> closing[Iterator[ServerSentEvent]]:
        """POST the request's body to `url` and read the answer's events (see post_sse); use it in a `with`,
        which drops the connection at the end or when the reader stops early."""
        return closing(post_sse(url, body=self.body(request), headers=headers, timeout=request.timeout, label=label,
                                api_key=request.api_key, allow_private_hosts=self.allow_private_hosts))


def json_object(data: str) -> dict | None:
    """An event's data as a JSON object; None for anything else (keep-alive text, a bare value)."""
    try:
        value = json.loads(data)  # real lines carry trailing padding spaces: json allows them
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _CheckedBackend(httpcore.SyncBackend):
    """Opens TCP connections only to checked addresses. The name is resolved here, once, and the
    socket connects to an address from that answer: a DNS answer that changes between a check and
    the connection (rebinding) cannot lead anywhere unchecked."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = checked_addresses(host, port, allow_private=self.allow_private)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last_error = error
        raise last_error or httpcore.ConnectError(f"no address for {host}")


class _CheckedTransport(httpx.HTTPTransport):
    """httpx's own transport, with a connection pool that connects through `_CheckedBackend`."""

    def __init__(self, allow_private: bool, limits: httpx.Limits):
        super().__init__(limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=_CheckedBackend(allow_private))


def shared_client(allow_private_hosts: bool = False) -> httpx.Client:
    """The process's pooled client. One per process rather than per call: building a client costs
    ~20 ms (its TLS context) and pooling keeps connections to the provider warm. Re-created in a
    forked child, which must not share its parent's sockets."""
    global _client_pid
    with _client_lock:
        if _client_pid != os.getpid():
            _clients.clear()
            _client_pid = os.getpid()
        if allow_private_hosts not in _clients:
            # Each answer holds a connection for its whole stream: allow many at once.
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=50)
            _clients[allow_private_hosts] = httpx.Client(
                transport=_CheckedTransport(allow_private_hosts, limits), follow_redirects=False)
        return _clients[allow_private_hosts]


def post_sse(url: str, *, body: dict, headers: dict[str, str], timeout: float, label: str,
             api_key: str | None, allow_private_hosts: bool = False) -> Iterator[ServerSentEvent]:
    """POST `body` as JSON and yield the events of the streamed answer as they arrive.

    Raises ProviderError: for an HTTP error or redirect status (code from the status), for a failure before
    the answer starts (network), for a connection lost or silent for `timeout` seconds mid-answer
    (stream_cut), for an address that is not allowed (refused). Whether the stream reached its
    terminal event is for the caller to judge. Close the iterator to drop the connection (stop)."""
    limits = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
    try:
        check_url(url, allow_private=allow_private_hosts)
        client = shared_client(allow_private_hosts)
        with client.stream("POST", url, json=body, headers=headers, timeout=limits) as response:
            if response.status_code >= 300:
                raise http_error(response, label, api_key)
            pieces = response.iter_bytes()
            if "json" in response.headers.get("content-type", ""):
                # Some proxies answer a streaming request with a JSON error and status 200; a few servers
                # label a real event stream as JSON. Only the first is an error.
                whole = response.read()
                if not whole.lstrip().startswith((b"data:", b"event:", b":")):
                    raise _not_a_stream(whole, response.status_code, label, api_key)
                pieces = iter([whole])
            decoder = SSEDecoder()
            try:
                for piece in pieces:
                    yield from decoder.feed(piece)
            except httpx.TimeoutException:
                raise ProviderError(f"{_capital(label)} stopped sending for {timeout:g} s before the answer "
                                    "was complete.", code="stream_cut") from None
            except httpx.HTTPError:
                raise stream_cut_error(label) from None
            yield from decoder.close()
    except httpx.TimeoutException as error:
        raise ProviderError(f"{_capital(label)} did not answer within {timeout:g} s ({_where(error)}).",
                            code="network") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise ProviderError("The model's base URL is not a valid http(s) address. Ask an administrator to "
                            "check it.", code="bad_request") from None
    except httpx.HTTPError as error:
        # A refused or failed connection sent nothing: trying again cannot answer twice.
        raise ProviderError(f"Could not reach {label} ({_where(error)}): {_network_reason(error)}.",
                            code="network", is_retryable=isinstance(error, httpx.ConnectError)) from None
    except RefusedAddress as refusal:
        raise ProviderError(f"The model's base URL was refused: {refusal}. Ask an administrator to check it.",
                            code="refused") from None


def http_error(response: httpx.Response, label: str, api_key: str | None) -> ProviderError:
    """The ProviderError for an error or redirect status, with the provider's explanation when it gave one."""
    status = response.status_code
    if status < 400:
        # Redirects are not followed: the x-api-key header would go wherever the Location points.
        return ProviderError(f"{_capital(label)} redirected the request ({status}). Ask an administrator to "
                             "check the model's base URL (https, path).", code="bad_request", status_code=status)
    body = response.read().decode("utf-8", "replace")
    detail = provider_detail(body, api_key)
    suffix = f": {detail}" if detail else "."
    if status == 401:
        # No detail: OpenAI's 401 text quotes the start and end of the key it refused.
        return ProviderError(f"{_capital(label)} refused the API key (401). Ask an administrator to check it.",
                             code="auth", status_code=status)
    if status == 403:
        return ProviderError(f"{_capital(label)} refused access (403){suffix}", code="auth", status_code=status)
    if status == 404:
        return ProviderError(f"{_capital(label)} does not know this model or address (404){suffix}",
                             code="not_found", status_code=status)
    # A used-up quota is a 429 too, but waiting does not refill it; a provider may also say "do not retry".
    retryable = (status == 429 or status >= 500) and "insufficient_quota" not in body \
        and response.headers.get("x-should-retry", "").lower() != "false"
    wait = retry_after(response.headers)
    if status == 429:
        return ProviderError(f"Rate limited by {label} (429){suffix}", code="rate_limited", status_code=status,
                             is_retryable=retryable, retry_after=wait)
    if status in (503, 529):
        return ProviderError(f"{_capital(label)} is overloaded ({status}){suffix}", code="server_error",
                             status_code=status, is_retryable=retryable, retry_after=wait)
    if status >= 500:
        return ProviderError(f"{_capital(label)} had a server error ({status}){suffix}", code="server_error",
                             status_code=status, is_retryable=retryable, retry_after=wait)
    overflow = context_overflow(body)
    if overflow is not None:
        return ProviderError(f"{_capital(label)} said the request is longer than the model's context "
                             f"({status}){suffix}", code="context_length", status_code=status,
                             prompt_tokens=overflow[0], context_limit=overflow[1])
    return ProviderError(f"{_capital(label)} refused the request ({status}){suffix}", code="bad_request",
                         status_code=status)


# The words providers use for "the prompt does not fit": OpenAI (and vLLM), Anthropic, llama.cpp.
CONTEXT_CODES = ("context_length_exceeded", "exceed_context_size_error")
CONTEXT_PATTERNS = (
    (re.compile(r"prompt is too long: (\d+) tokens > (\d+) maximum"), (1, 2)),
    (re.compile(r"maximum context length is (\d+) tokens.*?(?:resulted in|requested) (\d+) tokens", re.S), (2, 1)),
    (re.compile(r"input tokens exceed the configured limit of (\d+) tokens.*?resulted in (\d+) tokens",
                re.S | re.I), (2, 1)),
)

CONTEXT_WITH_ANSWER = re.compile(r"exceed context limit: (\d+) \+ (\d+) > (\d+)")


def context_overflow(body: str) -> tuple[int | None, int | None] | None:
    """When an error body says the request exceeds the model's context: (prompt tokens, the limit),
    either None when not given. None when the body says something else."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or body)[:2000]
    for pattern, (prompt_group, limit_group) in CONTEXT_PATTERNS:
        match = pattern.search(message)
        if match:
            return int(match.group(prompt_group)), int(match.group(limit_group))
    match = CONTEXT_WITH_ANSWER.search(message)  # Anthropic: input + max_tokens > limit
    if match:
        return int(match.group(1)) + int(match.group(2)), int(match.group(3))
    if error.get("code") in CONTEXT_CODES or error.get("type") in CONTEXT_CODES:
        prompt, limit = error.get("n_prompt_tokens"), error.get("n_ctx")  # llama.cpp's fields
        return (prompt if isinstance(prompt, int) else None), (limit if isinstance(limit, int) else None)
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait a provider asked for: `retry-after-ms` (OpenAI), else `Retry-After` in seconds or as
    an HTTP date; None when it asked for none or wrote something unreadable."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = (headers.get("retry-after") or "").strip()
        if not value:
            return None
        if value.replace(".", "", 1).isdigit():
            return float(value)
        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, OverflowError):
        return None


def stream_cut_error(label: str) -> ProviderError:
    return ProviderError(f"{_capital(label)}'s stream ended before the answer was complete.", code="stream_cut")


def provider_detail(body: str, api_key: str | None) -> str:
    """The explanation in an error body (OpenAI, Anthropic, vLLM, Ollama and FastAPI shapes, or short
    plain text), on one line, shortened, without the API key. Empty when there is none."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            text = error.get("message") or error.get("type") or ""
        else:
            text = error or parsed.get("message") or parsed.get("detail") or ""
    elif parsed is None and not body.lstrip().startswith("<"):  # an HTML error page says nothing useful
        text = body
    else:
        text = ""
    return shorten(redact(" ".join(str(text).split()), api_key))


def redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 4:
        return re.sub(re.escape(secret), REDACTED, text, flags=re.IGNORECASE)
    return text


def shorten(text: str, limit: int = DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _not_a_stream(body: bytes, status: int, label: str, api_key: str | None) -> ProviderError:
    detail = provider_detail(body.decode("utf-8", "replace"), api_key)
    return ProviderError(f"{_capital(label)} answered without streaming{': ' + detail if detail else '.'}",
                         code="bad_request", status_code=status)


def _capital(label: str) -> str:
    return label[:1].upper() + label[1:]


def _where(error: httpx.HTTPError) -> str:
    try:
        url = error.request.url
    except RuntimeError:  # an error raised before a request existed
        return "unknown address"
    # Host and port only: a base URL's path or query may carry a token.
    return f"{url.host}:{url.port}" if url.port else url.host


def _network_reason(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "the connection failed"
    if isinstance(error, httpx.RemoteProtocolError):
        return "it closed the connection without answering"
    return type(error).__name__
