"""/admin/models: admins register and price models; keys stay in the environment; changes audited."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.ai_models.models import AIModel
from app.extensions import db
from app.security.audit import AuditLog
from tests.factories import make_model

VALID = {
    "name": "GPT test", "provider": "openai", "model_id": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1",
    "api_key_env": "STUDIO_TEST_SENTINEL_KEY", "context_window": "128000", "max_tokens": "4096",
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
    monkeypatch.setenv("STUDIO_TEST_SENTINEL_KEY", "sk-test-SENTINEL-123")
    admin = login_as("admin")
    admin.post("/admin/models/new", VALID)
    model = db.session.scalar(select(AIModel).where(AIModel.model_id == "gpt-4o-mini"))
    for path in ["/admin/models", f"/admin/models/{model.id}", "/chat"]:
        html = admin.get(path).get_data(as_text=True)
        assert "sk-test-SENTINEL" not in html
    assert "STUDIO_TEST_SENTINEL_KEY set" in admin.get("/admin/models").get_data(as_text=True)


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
