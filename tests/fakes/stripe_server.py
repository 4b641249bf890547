"""A fake Stripe API on 127.0.0.1 for the official `stripe` SDK (pointed at it by STUDIO_STRIPE_API_BASE),
plus builders of Stripe's objects and events and a webhook signer that works as Stripe's does.

The objects follow the shapes of Stripe's own example objects (its OpenAPI fixtures): the fields the
SDK and Studio read, with Stripe's names, nesting and id prefixes; the values are ours. What the fake
answers:
    POST /v1/checkout/sessions          a checkout.session (subscription mode), with a url
    POST /v1/billing_portal/sessions    a billing_portal.session, with a url
    POST /v1/customers                  a customer
    GET  /v1/subscriptions/<id>         a subscription put in `fake.subscriptions`, else 404 resource_missing
Every request is recorded (method, path, headers, the form decoded into nested params), and
`fake.failures` makes the next requests fail with Stripe's error bodies (e.g. [500]).

    with FakeStripe() as fake:
        app.config["STRIPE_API_BASE"] = fake.url
        ...
        fake.requests[-1].params["line_items"][0]["price"]

    python -m tests.fakes.stripe_server --port 0     # prints the API base to use on one line
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.server import LocalHTTPServer

PERIOD_START = 1_785_542_400  # 2026-08-01T00:00:00Z
PERIOD_END = 1_788_220_800    # 2026-09-01T00:00:00Z
_numbers = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}_test{next(_numbers):06d}FAKE"


# --- Stripe's objects ------------------------------------------------------------------------------

def price_object(price_id: str, unit_amount: int = 4900) -> dict:
    return {"id": price_id, "object": "price", "active": True, "billing_scheme": "per_unit", "created": PERIOD_START,
            "currency": "usd", "livemode": False, "lookup_key": None, "metadata": {}, "nickname": None,
            "product": "prod_testStudioFAKE", "recurring": {"interval": "month", "interval_count": 1, "meter": None,
                                                            "trial_period_days": None, "usage_type": "licensed"},
            "tax_behavior": "unspecified", "tiers_mode": None, "type": "recurring", "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount)}


def subscription_object(*, subscription_id: str | None = None, customer: str = "cus_testStudioFAKE",
                        price_id: str = "price_team", status: str = "active", metadata: dict | None = None,
                        period: tuple[int, int] = (PERIOD_START, PERIOD_END), period_on_items: bool = True) -> dict:
    """A subscription with one item. API versions since 2025 carry current_period_* on the items
    (`period_on_items`); older ones on the subscription itself."""
    subscription_id = subscription_id or _next_id("sub")
    item = {"id": _next_id("si"), "object": "subscription_item", "created": period[0], "discounts": [], "metadata": {},
            "price": price_object(price_id), "quantity": 1, "subscription": subscription_id, "tax_rates": []}
    subscription = {
        "id": subscription_id, "object": "subscription", "application": None, "billing_cycle_anchor": period[0],
        "cancel_at": None, "cancel_at_period_end": False, "canceled_at": None,
        "collection_method": "charge_automatically",
        "created": period[0], "currency": "usd", "customer": customer, "days_until_due": None,
        "default_payment_method": None, "description": None, "discounts": [], "ended_at": None,
        "items": {"object": "list", "data": [item], "has_more": False,
                  "url": f"/v1/subscription_items?subscription={subscription_id}"},
        "latest_invoice": None, "livemode": False, "metadata": metadata or {}, "schedule": None,
        "start_date": period[0], "status": status, "test_clock": None, "trial_end": None, "trial_start": None,
    }
    if status == "canceled":
        subscription["canceled_at"] = subscription["ended_at"] = period[1]
    target = item if period_on_items else subscription
    target["current_period_start"], target["current_period_end"] = period
    return subscription


def checkout_session_object(*, session_id: str | None = None, mode: str = "subscription", status: str = "open",
                            client_reference_id: str | None = None, customer: str | None = None,
                            customer_email: str | None = None, subscription: str | None = None,
                            metadata: dict | None = None, success_url: str = "https://example.org/success",
                            cancel_url: str = "https://example.org/cancel") -> dict:
    session_id = session_id or _next_id("cs")
    return {
        "id": session_id, "object": "checkout.session", "allow_promotion_codes": None, "amount_subtotal": 4900,
        "amount_total": 4900, "billing_address_collection": None, "cancel_url": cancel_url,
        "client_reference_id": client_reference_id, "client_secret": None, "created": PERIOD_START,
        "currency": "usd", "customer": customer, "customer_creation": None if customer else "always",
        "customer_details": {"email": customer_email, "name": None, "phone": None, "tax_exempt": "none",
                             "tax_ids": None} if status == "complete" else None,
        "customer_email": customer_email, "expires_at": PERIOD_START + 86400, "invoice": None, "livemode": False,
        "locale": None, "metadata": metadata or {}, "mode": mode, "payment_intent": None,
        "payment_method_types": ["card"], "payment_status": "paid" if status == "complete" else "unpaid",
        "setup_intent": None, "status": status, "submit_type": None, "subscription": subscription,
        "success_url": success_url, "ui_mode": "hosted",
        "url": None if status == "complete" else f"https://checkout.stripe.com/c/pay/{session_id}",
    }


def portal_session_object(*, customer: str, return_url: str | None) -> dict:
    session_id = _next_id("bps")
    return {"id": session_id, "object": "billing_portal.session", "configuration": "bpc_testStudioFAKE",
            "created": PERIOD_START, "customer": customer, "flow": None, "livemode": False, "locale": None,
            "on_behalf_of": None, "return_url": return_url,
            "url": f"https://billing.stripe.com/p/session/test_{session_id}"}


def customer_object(*, email: str | None = None, metadata: dict | None = None) -> dict:
    return {"id": _next_id("cus"), "object": "customer", "address": None, "balance": 0, "created": PERIOD_START,
            "currency": None, "default_source": None, "delinquent": False, "description": None, "email": email,
            "invoice_prefix": "STUDIO1", "livemode": False, "metadata": metadata or {}, "name": None,
            "phone": None, "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None}


def invoice_object(*, invoice_id: str | None = None, customer: str = "cus_testStudioFAKE",
                   subscription: str | None = None, status: str = "paid", amount: int = 4900,
                   number: str | None = None, period: tuple[int, int] = (PERIOD_START, PERIOD_END),
                   subscription_on_parent: bool = True, hosted_invoice_url: str | None = None,
                   subscription_metadata: dict | None = None) -> dict:
    """An invoice for a subscription's period. Since 2025 it names its subscription under
    parent.subscription_details (`subscription_on_parent`); older API versions as `subscription`. Both
    carry a copy of the subscription's metadata (`subscription_metadata`) in subscription_details."""
    invoice_id = invoice_id or _next_id("in")
    paid = status == "paid"
    line = {"id": _next_id("il"), "object": "line_item", "amount": amount, "currency": "usd",
            "description": "1 × Studio Team (at $49.00 / month)", "discount_amounts": [], "discountable": True,
            "discounts": [], "invoice": invoice_id, "livemode": False, "metadata": {},
            "period": {"start": period[0], "end": period[1]}, "quantity": 1}
    invoice = {
        "id": invoice_id, "object": "invoice", "account_country": "US", "account_name": "Studio test",
        "amount_due": amount, "amount_paid": amount if paid else 0, "amount_remaining": 0 if paid else amount,
        "attempt_count": 1, "attempted": True, "auto_advance": not paid, "billing_reason": "subscription_create",
        "collection_method": "charge_automatically", "created": period[0], "currency": "usd", "customer": customer,
        "customer_email": None, "description": None, "due_date": None,
        "hosted_invoice_url": hosted_invoice_url or f"https://invoice.stripe.com/i/acct_test/{invoice_id}",
        "invoice_pdf": None, "livemode": False, "metadata": {}, "number": number,
        "lines": {"object": "list", "data": [line], "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
        "period_end": period[0], "period_start": period[0], "status": status,
        "status_transitions": {"finalized_at": period[0], "marked_uncollectible_at": None,
                               "paid_at": period[0] + 60 if paid else None, "voided_at": None},
        "subtotal": amount, "total": amount,
    }
    if subscription_on_parent:
        invoice["parent"] = {"type": "subscription_details", "quote_details": None,
                             "subscription_details": {"metadata": subscription_metadata or {},
                                                      "subscription": subscription}}
    else:
        invoice["subscription"] = subscription
        invoice["subscription_details"] = {"metadata": subscription_metadata or {}}
    return invoice


def event_object(event_type: str, obj: dict, *, event_id: str | None = None, created: int | None = None) -> dict:
    """A webhook event (snapshot payload) as Stripe posts it."""
    return {"id": event_id or _next_id("evt"), "object": "event", "api_version": "2026-10-28.endive",
            "created": int(created if created is not None else time.time()), "data": {"object": obj},
            "livemode": False, "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "type": event_type}


# --- signing webhooks as Stripe does ---------------------------------------------------------------

def signature_header(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe-Signature: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>`."""
    raw = payload.encode() if isinstance(payload, str) else payload
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signed(event: dict, secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a webhook delivery of `event`."""
    body = json.dumps(event, indent=2).encode()  # Stripe pretty-prints; the signature covers the exact bytes
    return body, {"Stripe-Signature": signature_header(body, secret, timestamp), "Content-Type": "application/json"}


# --- the server ------------------------------------------------------------------------------------

def nested_params(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding back into nested data: `line_items[0][price]=x` → {"line_items": [{"price": x}]}."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        if not parts:
            continue
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node):
        if isinstance(node, dict):
            if node and all(key.isdigit() for key in node):
                return [listify(node[key]) for key in sorted(node, key=int)]
            return {key: listify(value) for key, value in node.items()}
        return node

    return listify(root)


@dataclass
class StripeRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    params: dict = field(default_factory=dict)


ERRORS = {
    400: {"type": "invalid_request_error", "message": "Invalid request (fake Stripe)."},
    401: {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"},
    404: {"type": "invalid_request_error", "code": "resource_missing"},
    429: {"type": "invalid_request_error", "code": "rate_limit",
          "message": "Too many requests hit the API too quickly."},
    500: {"type": "api_error", "message": "Sorry, something went wrong (fake Stripe)."},
}


class FakeStripe(LocalHTTPServer):
    """Serves Stripe's API shapes from a daemon thread; see the module docstring."""

    METHODS = ("GET", "POST")

    def __init__(self, port: int = 0, api_key: str | None = None):
        super().__init__(port)
        self.api_key = api_key
        self.requests: list[StripeRequest] = []
        self.subscriptions: dict[str, dict] = {}
        self.failures: list[int] = []  # statuses for the next requests, one each
        # self.url is the API base the SDK is pointed at (it adds /v1/...).

    def requests_to(self, method: str, path: str) -> list[StripeRequest]:
        return [request for request in self.requests if request.method == method and request.path == path]

    # answering

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(body if method == "POST" else split.query, keep_blank_values=True)
        request = StripeRequest(method, split.path, {k.lower(): v for k, v in handler.headers.items()},
                                nested_params(pairs))
        with self._lock:
            self.requests.append(request)
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            self._send(handler, failure, self._error(failure))
            return
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            self._send(handler, 401, self._error(401))
            return
        status, payload = self.answer(request)
        self._send(handler, status, payload)

    def answer(self, request: StripeRequest) -> tuple[int, dict]:
        params, path = request.params, request.path
        if request.method == "POST" and path == "/v1/checkout/sessions":
            return 200, checkout_session_object(
                mode=params.get("mode", "payment"), client_reference_id=params.get("client_reference_id"),
                customer=params.get("customer"), customer_email=params.get("customer_email"),
                metadata=params.get("metadata"), success_url=params.get("success_url", ""),
                cancel_url=params.get("cancel_url", ""))
        if request.method == "POST" and path == "/v1/billing_portal/sessions":
            if not params.get("customer"):
                return 400, self._error(400, "Missing required param: customer.", param="customer")
            return 200, portal_session_object(customer=params["customer"], return_url=params.get("return_url"))
        if request.method == "POST" and path == "/v1/customers":
            return 200, customer_object(email=params.get("email"), metadata=params.get("metadata"))
        match = re.fullmatch(r"/v1/subscriptions/([A-Za-z0-9_]+)", path)
        if request.method == "GET" and match:
            subscription = self.subscriptions.get(match.group(1))
            if subscription is None:
                return 404, self._error(404, f"No such subscription: '{match.group(1)}'", param="id")
            return 200, subscription
        return 404, self._error(404, f"Unrecognized request URL ({request.method}: {path}).")

    @staticmethod
    def _error(status: int, message: str | None = None, param: str | None = None) -> dict:
        error = {**ERRORS.get(status, ERRORS[500])}
        if message:
            error["message"] = message
        if param:
            error["param"] = param
        error.setdefault("message", "Error (fake Stripe).")
        return {"error": error}

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Request-Id", f"req_{next(_numbers):08d}")
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=FakeStripe.__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    arguments = parser.parse_args()
    server = FakeStripe(port=arguments.port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
