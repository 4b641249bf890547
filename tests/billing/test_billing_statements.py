"""What billing adds to a chat page, a send and an answer's finish, in SQL statements (pinned here so
it cannot grow back), and the rarer paths the one statement leaves to a second step: no personal
organisation yet, no live subscription, a manual period to roll forward. Each gives the same answer
as before: limits, banners and counters as a person would check them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from app.billing import limits, metering, organisations, subscriptions
from app.billing.models import (
    SubscriptionUsage,
    TenantAccount,
    TenantMembership,
    TenantSubscription,
)
from app.chat import services as chat_services
from app.chat.model_requests import record
from app.chat.models import ModelRequest
from app.chat.services import GenerationOptions
from app.extensions import db
from app.llm.base import Usage
from app.models.base import utcnow
from tests.billing.helpers import personal_id, set_limit
from tests.conftest import count_queries
from tests.factories import make_conversation, make_model, make_user

pytestmark = pytest.mark.postgres

BILLING_TABLES = ("tenant_accounts", "tenant_user_memberships", "tenant_subscriptions", "plan_features",
                  "subscription_usage", "usage_counters")


def _billing(statements: list[str]) -> list[str]:
    """The statements billing ran (a provider call's own INSERT names its organisation in a subquery:
    not one of billing's)."""
    return [s for s in statements if any(table in s for table in BILLING_TABLES)
            and not s.startswith("INSERT INTO model_requests")]


def _forget_personal_organisation(user) -> None:
    """As for an account made before billing: no personal organisation, membership or subscription."""
    tenant_id = personal_id(user)
    db.session.execute(delete(TenantMembership).where(TenantMembership.tenant_id == tenant_id))
    db.session.execute(delete(TenantSubscription).where(TenantSubscription.tenant_id == tenant_id))
    db.session.execute(delete(TenantAccount).where(TenantAccount.id == tenant_id))
    db.session.commit()


def _end_the_period(tenant_id) -> TenantSubscription:
    """Move the organisation's manual subscription, and what it metered, to last month's period,
    which has ended."""
    subscription = subscriptions.current_subscription(tenant_id)
    start, end = subscriptions.month_period(subscription.current_period_start - timedelta(days=1))
    db.session.execute(update(TenantSubscription).where(TenantSubscription.id == subscription.id)
                       .values(current_period_start=start, current_period_end=end))
    db.session.execute(update(SubscriptionUsage).where(SubscriptionUsage.subscription_id == subscription.id)
                       .values(period_start=start, period_end=end))
    db.session.commit()
    db.session.expire_all()
    return db.session.get(TenantSubscription, subscription.id)


def _call(user, conversation=None, **fields) -> ModelRequest:
    return ModelRequest(user_id=user.id if user else None, chat_id=conversation.id if conversation else None,
                        model_name="m", provider="echo", requested_at=utcnow(), status="success", **fields)


def test_the_chat_pages_read_billing_in_one_statement_and_show_the_billed_organisations_banner(app, login_as):
    page = login_as("user")
    admin = make_user("admin")
    team = organisations.create_organisation(admin, "Team <b>Blue</b>")
    db.session.add(TenantMembership(user_id=page.user.id, tenant_id=team.id, role="member",
                                    monthly_token_cap=50))
    db.session.commit()
    set_limit(team.id, "messages_per_day", soft=1, hard=100)
    metering.count_message(team.id, page.user.id)
    metering.meter_call(_call(page.user, input_tokens=40, output_tokens=20, total_tokens=60, tenant_id=team.id))
    db.session.commit()
    conversation = make_conversation(page.user, messages=2, tenant_id=team.id)

    with count_queries(app) as new_chat:
        html = page.get("/chat").get_data(as_text=True)
    assert len(_billing(new_chat)) == 1
    assert 'id="limit-banner"' not in html  # the personal organisation has used nothing
    assert html.index("(personal)") < html.index("Team &lt;b&gt;Blue&lt;/b&gt;")  # the picker, personal first

    with count_queries(app) as billed_page:
        html = page.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert len(_billing(billed_page)) == 1
    assert "Team &lt;b&gt;Blue&lt;/b&gt; is nearing its limit of messages per day: 1 of 100 messages used" in html
    assert "Sending is paused: your member cap in Team &lt;b&gt;Blue&lt;/b&gt;" in html  # 60 of 50 tokens
    assert "<b>Blue</b>" not in html


def test_a_send_checks_its_limits_in_one_statement_and_counts_its_message_in_one_more(app):
    admin, member = make_user("admin"), make_user()
    team = organisations.create_organisation(admin, "Team")
    db.session.add(TenantMembership(user_id=member.id, tenant_id=team.id, role="member", monthly_token_cap=10_000))
    db.session.commit()
    set_limit(team.id, "monthly_tokens", soft=5, hard=1_000_000)
    model = make_model("Priced", prices=(1, 1, 0))
    personal = personal_id(member)
    for tenant_id in (None, team.id):
        db.session.refresh(member)  # (a send's commit expired it; not billing's to count)
        with count_queries(app) as check:
            assert limits.check_can_send(member, tenant_id) == (tenant_id or personal)
        assert len(check) == 1
        with count_queries(app) as send:
            conversation, _answer = chat_services.start_conversation(member, model.id, "hi", GenerationOptions(),
                                                                     None, tenant_id=tenant_id)
        assert len(_billing(send)) == 2  # the check, then the message counted (an upsert)
        assert conversation.tenant_id == (tenant_id or personal)
    today = utcnow().date()
    counted = metering.counter_values([metering.bucket_key(team.id, None, "day", today),
                                       metering.bucket_key(team.id, member.id, "month", today.replace(day=1))])
    assert [row.messages for row in counted.values()] == [1, 1]


def test_the_personal_organisation_is_made_on_first_need_by_the_page_the_check_and_the_meter(app, login_as):
    page = login_as("user")
    _forget_personal_organisation(page.user)
    html = page.get("/chat").get_data(as_text=True)  # made for the page (a GET writes nothing lasting)
    assert 'name="content"' in html and 'id="limit-banner"' not in html

    checker = make_user()
    _forget_personal_organisation(checker)
    assert limits.check_can_send(checker, None) == personal_id(checker)

    caller = make_user()
    _forget_personal_organisation(caller)
    call = _call(caller)
    record(call, Usage(30, 12), make_model("Priced", prices=(1, 1, 0)))
    db.session.commit()
    tenant_id = personal_id(caller)
    assert db.session.scalar(select(ModelRequest.tenant_id).where(ModelRequest.id == call.id)) == tenant_id
    row = metering.counter_values([metering.bucket_key(tenant_id, caller.id, "day", utcnow().date())])
    assert [(r.input_tokens, r.output_tokens, r.requests) for r in row.values()] == [(30, 12, 1)]


def test_a_manual_period_that_ended_rolls_forward_for_the_check_the_banner_and_the_meter(app, login_as):
    page = login_as("user")
    tenant_id = personal_id(page.user)
    set_limit(tenant_id, "monthly_tokens", soft=10, hard=100)
    metering.meter_call(_call(page.user, input_tokens=150, total_tokens=150))
    db.session.commit()
    assert "Sending is paused" in page.get("/chat").get_data(as_text=True)
    old = _end_the_period(tenant_id)
    old_start = old.current_period_start

    assert 'id="limit-banner"' not in page.get("/chat").get_data(as_text=True)  # a new period, nothing used
    assert limits.check_can_send(page.user, None) == tenant_id
    current = subscriptions.current_subscription(tenant_id)
    assert current.id == old.id and current.current_period_start > old_start

    _end_the_period(tenant_id)
    record(_call(page.user, conversation=make_conversation(page.user)), Usage(7, 3),
           make_model("Priced", prices=(1, 1, 0)))
    db.session.commit()
    current = subscriptions.current_subscription(tenant_id)
    assert current.current_period_end > utcnow()
    assert metering.subscription_quantities(current.id, current.current_period_start)["monthly_tokens"] == 10
    periods = db.session.scalars(select(SubscriptionUsage.period_start).where(
        SubscriptionUsage.subscription_id == current.id, SubscriptionUsage.feature_key == "monthly_tokens"))
    assert sorted(periods) == [old_start, current.current_period_start]  # the old period's count kept apart


def test_an_organisation_without_a_live_subscription_gets_free_for_the_check_and_the_meter(app):
    user = make_user()
    tenant_id = personal_id(user)
    db.session.execute(update(TenantSubscription).where(TenantSubscription.tenant_id == tenant_id)
                       .values(status="canceled"))
    db.session.commit()
    assert limits.check_can_send(user, None) == tenant_id
    db.session.execute(update(TenantSubscription).where(TenantSubscription.tenant_id == tenant_id)
                       .values(status="canceled"))
    db.session.commit()
    record(_call(user, conversation=make_conversation(user)), Usage(5, 5), make_model("Priced", prices=(1, 1, 0)))
    db.session.commit()
    live = subscriptions.current_subscription(tenant_id)
    assert live.plan.code == "free" and live.status == "active"
    assert metering.subscription_quantities(live.id, live.current_period_start)["monthly_tokens"] == 10


def test_a_call_bills_the_organisation_it_names_else_its_conversations_and_nobodys_call_bills_nothing(app):
    admin, user = make_user("admin"), make_user()
    team = organisations.create_organisation(admin, "Team")
    other = organisations.create_organisation(admin, "Other")
    model = make_model("Priced", prices=(1, 1, 0))
    conversation = make_conversation(user, tenant_id=team.id)
    named = _call(user, conversation, tenant_id=other.id)
    record(named, Usage(1, 1), model)
    by_conversation = _call(user, conversation)
    record(by_conversation, Usage(2, 2), model)
    nobodys = _call(None)
    record(nobodys, Usage(3, 3), model)
    db.session.commit()
    stored = dict(db.session.execute(select(ModelRequest.id, ModelRequest.tenant_id).where(
        ModelRequest.id.in_([named.id, by_conversation.id, nobodys.id]))).all())
    assert stored == {named.id: other.id, by_conversation.id: team.id, nobodys.id: None}
    for tenant_id, call in ((other.id, named), (team.id, by_conversation)):
        subscription = subscriptions.current_subscription(tenant_id)
        assert metering.subscription_quantities(subscription.id, subscription.current_period_start) == {
            "monthly_tokens": call.total_tokens, "monthly_cost": metering.micros(call.total_cost_usd)}
