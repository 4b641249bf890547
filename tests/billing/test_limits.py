"""Plan limits: refused before any provider call with nothing billable recorded (pages and API),
soft limits warn, member caps, projects."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.api import keys
from app.billing import limits, metering, organisations
from app.billing.models import TenantMembership
from app.chat import services as chat_services
from app.chat.models import Conversation, Message, ModelRequest
from app.chat.services import GenerationOptions
from app.extensions import db
from app.projects import services as project_services
from app.security.origin import Origin
from tests.billing.helpers import personal_id, set_limit
from tests.factories import make_conversation, make_model, make_user
from tests.fakes.openai_server import FakeOpenAIServer


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(table))
                 for table in (Conversation, Message, ModelRequest))


@pytest.mark.postgres
def test_hard_limit_refuses_before_any_provider_call_and_records_nothing(app, login_as):
    page = login_as("user")
    tenant_id = personal_id(page.user)
    with FakeOpenAIServer() as server:
        model = make_model("Fake GPT", provider="openai", base_url=server.base_url)
        conversation = make_conversation(page.user, messages=2, model=model)
        set_limit(tenant_id, "messages_per_day", hard=1)
        metering.count_message(tenant_id, page.user.id)  # today's one message is used
        db.session.commit()
        before = _counts()

        response = page.post(f"/chat/{conversation.id}/messages",
                             data={"content": "Keep this text", "model_id": model.id})
        assert response.status_code == 429
        html = response.get_data(as_text=True)
        assert "Keep this text" in html and "limit of messages per day" in html
        assert f'<a href="/billing?org={tenant_id}">Open billing</a>' in html  # a link, not only its path in words

        new_chat = page.post("/chat", data={"content": "A new one", "model_id": model.id})
        assert new_chat.status_code == 429 and "A new one" in new_chat.get_data(as_text=True)
        htmx = page.post(f"/chat/{conversation.id}/messages", data={"content": "x", "model_id": model.id}, htmx=True)
        assert htmx.status_code == 429
        toast = json.loads(htmx.headers["HX-Trigger"])["toast"]
        assert toast["level"] == "error"
        assert toast["link"] == {"href": f"/billing?org={tenant_id}", "text": "Open billing"}

        _row, key = keys.create_key(page.user, "k", ["chat"], None, Origin("127.0.0.1", "pytest"))
        api = page.client.post("/api/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, json={
            "model": model.model_id, "messages": [{"role": "user", "content": "earlier"},
                                                  {"role": "assistant", "content": "reply"},
                                                  {"role": "user", "content": "now"}]})
        assert api.status_code == 429
        assert api.get_json()["error"]["code"] == "insufficient_quota"
        assert "/billing" in api.get_json()["error"]["message"]
        api = page.client.post(f"/api/v1/conversations/{conversation.id}/messages",
                               headers={"Authorization": f"Bearer {key}"}, json={"content": "hi"})
        assert api.status_code == 429

        assert server.requests == []
    db.session.rollback()
    assert _counts() == before  # no conversation, message or provider call left behind
    assert metering.counter_values([metering.bucket_key(tenant_id, None, "day", metering.utcnow().date())])[
        metering.bucket_key(tenant_id, None, "day", metering.utcnow().date())].messages == 1


def test_soft_limit_warns_on_the_chat_page_and_hard_limit_links_to_billing(app, login_as):
    page = login_as("user")
    tenant_id = personal_id(page.user)
    set_limit(tenant_id, "monthly_tokens", soft=10, hard=1000)
    call = ModelRequest(user_id=page.user.id, model_name="m", provider="echo", input_tokens=8, output_tokens=4,
                        total_tokens=12, status="success")
    metering.meter_call(call)
    db.session.commit()
    html = page.get("/chat").get_data(as_text=True)
    assert 'id="limit-banner"' in html and 'href="/billing"' in html
    assert "is nearing its limit of tokens per month: 12 of 1,000 tokens used" in html
    set_limit(tenant_id, "monthly_tokens", soft=10, hard=12)
    html = page.get("/chat").get_data(as_text=True)
    assert "Sending is paused" in html
    with pytest.raises(limits.LimitReached) as refused:
        limits.check_can_send(page.user, None)
    assert refused.value.feature_key == "monthly_tokens"


def test_member_cap_refuses_that_member_only(app):
    admin, member = make_user("admin"), make_user()
    tenant = organisations.create_organisation(admin, "Team")
    db.session.add(TenantMembership(user_id=member.id, tenant_id=tenant.id, role="member"))
    db.session.commit()
    cap_row = organisations.membership_of(member.id, tenant.id)
    organisations.set_member_cap(admin, tenant.id, cap_row.id, monthly_tokens=100, monthly_cost_micros=None)
    model = make_model("Priced", prices=(1, 1, 0))
    conversation, _answer = chat_services.start_conversation(member, model.id, "hi", GenerationOptions(), None,
                                                             tenant_id=tenant.id)
    assert conversation.tenant_id == tenant.id
    metering.meter_call(ModelRequest(user_id=member.id, chat_id=conversation.id, model_name="m", provider="echo",
                                     input_tokens=60, output_tokens=40, total_tokens=100, status="success"))
    db.session.commit()
    with pytest.raises(limits.LimitReached) as refused:
        limits.check_can_send(member, tenant.id)
    assert refused.value.feature_key == "member_monthly_tokens" and "member cap" in refused.value.message
    assert limits.check_can_send(admin, tenant.id) == tenant.id  # the organisation itself is far from its limits
    report = {row.feature_key: row for row in limits.usage_report(tenant.id, user_id=member.id)}
    assert report["member_monthly_tokens"].state == "exceeded" and report["monthly_tokens"].used == 100


def test_projects_and_storage_past_the_limit_are_refused(app, tmp_path):
    app.config.update(PROJECT_STORAGE=str(tmp_path / "storage"), JOBS_WORKER_THREAD=False)
    user = make_user()
    set_limit(personal_id(user), "projects", hard=1)
    set_limit(personal_id(user), "storage", hard=100)
    project = project_services.create_project(user, "First")
    with pytest.raises(limits.LimitReached):
        project_services.create_project(user, "Second")
    assert project_services.import_files(user, project.id, {"a.txt": b"x" * 60}) == 1
    with pytest.raises(limits.LimitReached) as refused:
        project_services.import_files(user, project.id, {"b.txt": b"y" * 60})
    assert "Nothing was imported" in refused.value.message
    db.session.expire_all()
    assert (db.session.get(type(project), project.id).file_count,
            db.session.get(type(project), project.id).total_size_bytes) == (1, 60)


def test_an_answer_that_crosses_the_limit_mid_way_finishes(app):
    user = make_user()
    tenant_id = personal_id(user)
    set_limit(tenant_id, "monthly_tokens", hard=1)
    model = make_model("Priced", prices=(1, 1, 0))
    conversation, answer = chat_services.start_conversation(user, model.id, "hello", GenerationOptions(), None)
    from app.chat.streaming import generate_answer
    generate_answer(answer.id)  # its own tokens take the organisation past the limit
    db.session.expire_all()
    assert db.session.get(Message, answer.id).status == "complete"
    with pytest.raises(limits.LimitReached):
        chat_services.send_message(user, conversation, model.id, "again", GenerationOptions(), None)
