"""/admin/models: admins register and price models; keys stay in the environment; changes audited.
A row can only send a key the operator allows to an address the operator allows, checked in the form
and again at every call; users see a generic provider error, admins the provider's words."""
from __future__ import annotations

import html
import socket
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.ai_models.models import AIModel
from app.chat.models import ModelRequest
from app.extensions import db
from app.security.audit import AuditLog
from tests.chat.helpers import last_answer, start_chat, wait_for_answer
from tests.factories import make_model
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer

VALID = {
    "name": "GPT test", "provider": "openai", "model_id": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1",
    "api_key_env": "SENTINEL_TEST_API_KEY", "context_window": "128000", "max_tokens": "4096",
    "input_cost_per_million": "0.15", "output_cost_per_million": "0.6", "cached_input_cost_per_million": "0.075",
    "allowed_roles": ["moderator", "admin"], "active": "y",
}


def test_fresh_install_has_the_demo_model_active(login_as):
    html = login_as("admin").get("/admin/models").get_data(as_text=True)
    assert "Studio demo" in html and "demo" in html and "active" in html


@pytest.mark.postgres
def test_admin_registers_a_model_with_prices_and_roles(login_as):
    admin = login_as("admin")
    response = admin.post("/admin/models/new", VALID)
    assert response.status_code == 303
    model = db.session.scalar(select(AIModel).where(AIModel.model_id == "gpt-4o-mini"))
    assert model.input_cost_per_million == Decimal("0.150000") and model.allowed_roles == ["moderator", "admin"]
    assert model.pricing_updated_at is not None
    entry = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "ai_model", AuditLog.action == "create"))
    assert entry.changes["after"]["model_id"] == "gpt-4o-mini" and entry.user_id == admin.user.id


@pytest.mark.postgres
def test_price_change_is_audited_with_before_and_after(login_as):
    admin = login_as("admin")
    model = make_model("Priced", prices=("1", "2", "0.5"))
    admin.post(f"/admin/models/{model.id}", {**VALID, "name": "Priced", "output_cost_per_million": "3"})
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "update", AuditLog.entity_id == str(model.id)))
    assert entry.changes["before"]["output_cost_per_million"] == "2.000000"
    assert entry.changes["after"]["output_cost_per_million"] == "3.000000"


def test_the_api_key_never_reaches_a_page(login_as, monkeypatch):
    monkeypatch.setenv("SENTINEL_TEST_API_KEY", "sk-test-SENTINEL-123")
    admin = login_as("admin")
    admin.post("/admin/models/new", VALID)
    model = db.session.scalar(select(AIModel).where(AIModel.model_id == "gpt-4o-mini"))
    for path in ["/admin/models", f"/admin/models/{model.id}", "/chat"]:
        html = admin.get(path).get_data(as_text=True)
        assert "sk-test-SENTINEL" not in html
    assert "SENTINEL_TEST_API_KEY set" in admin.get("/admin/models").get_data(as_text=True)


def test_users_do_not_see_endpoints_or_key_names_in_the_picker(login_as):
    make_model("Internal", provider="openai", base_url="http://10.0.0.5:8000/v1", api_key_env="INTERNAL_KEY")
    html = login_as("user").get("/chat").get_data(as_text=True)
    assert "Internal" in html and "10.0.0.5" not in html and "INTERNAL_KEY" not in html


def test_invalid_model_form_keeps_input_and_explains(login_as):
    admin = login_as("admin")
    html = admin.post("/admin/models/new", {**VALID, "api_key_env": "not a var", "input_cost_per_million": "-1",
                                            "base_url": "ftp://x", "model_id": ""}).get_data(as_text=True)
    assert "An environment variable name" in html
    assert "A price between 0 and 100,000" in html
    assert "A full http(s) URL." in html or "Invalid URL" in html
    assert 'value="GPT test"' in html
    assert db.session.scalar(select(AIModel).where(AIModel.name == "GPT test")) is None


def test_script_in_a_model_name_is_inert(login_as):
    admin = login_as("admin")
    admin.post("/admin/models/new", {**VALID, "name": "<img src=x onerror=alert(1)>", "allowed_roles": []})
    for path in ["/admin/models", "/chat"]:
        html = admin.get(path).get_data(as_text=True)
        assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


# Model registry safety: which key variables, which addresses, what a failure shows


def form_errors(html_page: str) -> str:
    return html.unescape(html_page)


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL", "STUDIO_SMTP_PASSWORD", "STUDIO_API_KEY"])
def test_studios_own_settings_can_never_be_a_models_key_even_when_listed(app, login_as, variable):
    app.config["MODEL_KEY_VARIABLES"] = (variable,)
    response = login_as("admin").post("/admin/models/new", {**VALID, "api_key_env": variable})
    page = form_errors(response.get_data(as_text=True))
    assert f"{variable} holds one of Studio's own settings and can never be sent to a model." in page
    assert db.session.scalar(select(AIModel).where(AIModel.name == "GPT test")) is None


def test_a_key_variable_must_end_in_api_key_or_be_listed_by_the_operator(app, login_as):
    admin = login_as("admin")
    page = form_errors(admin.post("/admin/models/new", {**VALID, "api_key_env": "HOME"}).get_data(as_text=True))
    assert "HOME is not allowed" in page and "STUDIO_MODEL_KEY_VARIABLES" in page
    app.config["MODEL_KEY_VARIABLES"] = ("OLLAMA_TOKEN",)
    assert admin.post("/admin/models/new", {**VALID, "api_key_env": "OLLAMA_TOKEN"}).status_code == 303
    assert admin.post("/admin/models/new", {**VALID, "model_id": "another", "api_key_env": "MISTRAL_API_KEY"}
                      ).status_code == 303


def test_without_the_opt_in_the_form_refuses_loopback_and_private_hosts(app, login_as):
    app.config["ALLOW_PRIVATE_MODEL_HOSTS"] = False
    admin = login_as("admin")
    for url in ["http://127.0.0.1:11434/v1", "http://localhost:11434/v1", "http://10.0.0.5/v1"]:
        page = form_errors(admin.post("/admin/models/new", {**VALID, "base_url": url}).get_data(as_text=True))
        assert "This address is not allowed" in page and "STUDIO_ALLOW_PRIVATE_MODEL_HOSTS=1" in page
    assert db.session.scalar(select(AIModel).where(AIModel.name == "GPT test")) is None


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/v1",
                                 "http://[fd00:ec2::254]/v1", "http://100.100.100.200/v1", "http://[fe80::1]/v1"])
def test_the_form_refuses_link_local_and_metadata_addresses_even_with_the_opt_in(app, login_as, url):
    assert app.config["ALLOW_PRIVATE_MODEL_HOSTS"] is True
    page = form_errors(login_as("admin").post("/admin/models/new", {**VALID, "base_url": url}).get_data(as_text=True))
    assert "This address is not allowed" in page and "never allowed" in page
    assert db.session.scalar(select(AIModel).where(AIModel.name == "GPT test")) is None


def test_the_form_resolves_the_host_name_and_checks_what_it_points_at(login_as, monkeypatch):
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "models.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    page = form_errors(login_as("admin").post("/admin/models/new", {**VALID, "base_url": "https://models.example.test/v1"}
                                              ).get_data(as_text=True))
    assert "models.example.test resolves to 169.254.169.254" in page


def failed_call(answer) -> ModelRequest:
    return db.session.scalar(select(ModelRequest).where(ModelRequest.message_id == answer.id))


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL", "STUDIO_ANYTHING"])
def test_a_row_written_before_the_rules_cannot_send_a_secret(login_as, variable, monkeypatch):
    monkeypatch.setenv(variable, "secret-value-SENTINEL-9")
    with FakeOpenAIServer() as fake:
        model = make_model("Old row", provider="openai", base_url=fake.base_url, api_key_env=variable)
        person = login_as("user")
        conversation = start_chat(person, "Hello", model_id=str(model.id))
        answer = wait_for_answer(last_answer(conversation).id)
    assert fake.requests == []  # nothing, so no key, left the server
    assert answer.status == "failed"
    assert answer.error_message == "This model is not set up correctly. An admin can see the details."
    assert variable in failed_call(answer).error_message
    assert "not allowed" in login_as("admin").get("/admin/models").get_data(as_text=True)


def test_without_the_opt_in_a_loopback_model_is_refused_at_call_time(app, login_as):
    with FakeOpenAIServer() as fake:
        model = make_model("Local", provider="openai", base_url=fake.base_url)
        app.config["ALLOW_PRIVATE_MODEL_HOSTS"] = False
        person = login_as("user")
        answer = wait_for_answer(last_answer(start_chat(person, "Hello", model_id=str(model.id))).id)
    assert fake.requests == [] and answer.status == "failed"
    assert "private or loopback" in failed_call(answer).error_message


def test_a_metadata_address_is_refused_at_call_time_even_with_the_opt_in(login_as):
    model = make_model("Metadata", provider="openai", base_url="http://169.254.169.254/latest")
    person = login_as("user")
    answer = wait_for_answer(last_answer(start_chat(person, "Hello", model_id=str(model.id))).id)
    assert answer.status == "failed" and "never allowed" in failed_call(answer).error_message


MARKER = "UPSTREAM-BODY-MARKER-51c9"


@pytest.mark.parametrize("server_class", [FakeOpenAIServer, FakeAnthropicServer], ids=["openai", "anthropic"])
@pytest.mark.parametrize("mode", ["429", "500", "error_event"])
def test_users_never_see_the_providers_error_body_admins_do(login_as, server_class, mode):
    with server_class() as fake:
        fake.scenario.mode, fake.scenario.error_message = mode, f"quota for org-internal {MARKER}"
        model = make_model("Failing", provider="openai" if server_class is FakeOpenAIServer else "anthropic",
                           base_url=fake.base_url)
        person = login_as("user")
        conversation = start_chat(person, "Hello", model_id=str(model.id))
        answer = wait_for_answer(last_answer(conversation).id)
    assert answer.status == "failed" and MARKER not in answer.error_message
    if mode != "error_event":
        assert answer.error_message == (f"The model's provider returned an error (HTTP {mode}). "
                                         "An admin can see the details.")
    page = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    stream = person.get(f"/chat/{conversation.id}/stream/{answer.id}").get_data(as_text=True)
    assert "An admin can see the details." in page and MARKER not in page
    assert "event: done" in stream and MARKER not in stream
    assert MARKER in failed_call(answer).error_message
    admin_page = login_as("admin").get(f"/admin/models/{model.id}").get_data(as_text=True)
    assert MARKER in admin_page and "Latest failed calls" in admin_page


def test_only_admins_see_the_failed_calls_page(login_as):
    model = make_model("Any")
    assert login_as("user").get(f"/admin/models/{model.id}").status_code in (403, 404)
