"""Metering: every provider call adds to its organisation's counters exactly, also under concurrency."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.billing import limits, metering, organisations, subscriptions
from app.billing.models import SubscriptionUsage, UsageCounter
from app.chat import services as chat_services
from app.chat.models import ModelRequest
from app.chat.services import GenerationOptions
from app.chat.streaming import generate_answer
from app.extensions import db
from app.models.base import utcnow
from tests.factories import make_model, make_user

pytestmark = pytest.mark.postgres

SENDS = 30


def _send_and_answer(app, user_id, model_id, number, errors):
    with app.app_context():
        try:
            from app.auth.models import User
            user = db.session.get(User, user_id)
            _conversation, assistant = chat_services.start_conversation(
                user, model_id, f"Question number {number}", GenerationOptions(), None)
            generate_answer(assistant.id)
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            db.session.remove()


def test_counters_equal_the_calls_exactly_under_30_parallel_sends(app):
    app.config["LIMIT_CONCURRENT_GENERATIONS"] = SENDS + 5
    user = make_user()
    model = make_model("Priced", prices=(3, 15, 0))
    errors: list[Exception] = []
    threads = [threading.Thread(target=_send_and_answer, args=(app, user.id, model.id, n, errors))
               for n in range(SENDS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    db.session.rollback()
    tenant_id = subscriptions.personal_organisation(user.id).id
    calls = list(db.session.scalars(select(ModelRequest).where(ModelRequest.user_id == user.id)))
    assert len(calls) >= SENDS and {call.tenant_id for call in calls} == {tenant_id}
    tokens = sum(call.total_tokens for call in calls)
    cost = sum(metering.micros(call.total_cost_usd) for call in calls)
    assert tokens > 0 and cost > 0
    subscription = subscriptions.current_subscription(tenant_id)
    metered = metering.subscription_quantities(subscription.id, subscription.current_period_start)
    assert metered == {"monthly_tokens": tokens, "monthly_cost": cost}
    today = utcnow().date()
    for who in (None, user.id):
        for granularity, start in (("day", today), ("month", today.replace(day=1))):
            row = db.session.scalar(select(UsageCounter).where(
                UsageCounter.bucket_key == metering.bucket_key(tenant_id, who, granularity, start)))
            assert (row.input_tokens + row.output_tokens, row.cost_micros, row.requests, row.messages) == (
                tokens, cost, len(calls), SENDS)
    assert db.session.scalar(select(func.count()).select_from(SubscriptionUsage)) == 2
    report = {row.feature_key: row for row in limits.usage_report(tenant_id, user_id=user.id)}
    assert report["monthly_tokens"].used == tokens
    assert report["messages_per_day"].used == SENDS
    chart = metering.daily_usage(tenant_id, today - timedelta(days=1), today)
    assert [(day.day, day.tokens, day.messages) for day in chart] == [
        (today - timedelta(days=1), 0, 0), (today, tokens, SENDS)]
    assert organisations.billable_organisations(user)[0][0].id == tenant_id


def test_metering_adds_one_statement_to_a_recorded_call_on_postgresql(app):
    """record() is on every answer's path: billing finds the organisation inside the call's own INSERT
    and adds to the subscription's period and the counters in one statement (two on SQLite, which has
    no data-modifying CTE), whatever the history; the call's organisation is then known without a query."""
    from decimal import Decimal

    from app.chat.model_requests import record
    from app.llm.base import Usage
    from tests.conftest import count_queries
    from tests.factories import make_conversation

    user = make_user()
    model = make_model("Priced", prices=(2, 4, 0))
    conversation = make_conversation(user, messages=2, model=model)
    tenant_id = subscriptions.personal_organisation(user.id).id
    db.session.commit()
    call = ModelRequest(user_id=user.id, chat_id=conversation.id, model_name=model.model_id, provider="echo",
                        requested_at=utcnow(), status="success")
    with count_queries(app) as statements:
        record(call, Usage(1000, 500), model)
        assert call.tenant_id == tenant_id
    billing = [s for s in statements if "tenant_subscriptions" in s or "usage_counters" in s
               or "subscription_usage" in s]
    assert len(billing) == (1 if db.engine.dialect.name == "postgresql" else 2)
    assert len(statements) == 3 + len(billing)  # the call, its day's roll-up, the conversation's totals
    db.session.commit()
    call = db.session.scalar(select(ModelRequest).where(ModelRequest.chat_id == conversation.id))
    assert call.tenant_id == tenant_id
    assert metering.micros(call.total_cost_usd) == 4000 == metering.micros(Decimal("0.004"))
    subscription = subscriptions.current_subscription(tenant_id)
    assert metering.subscription_quantities(subscription.id, subscription.current_period_start) == {
        "monthly_tokens": 1500, "monthly_cost": 4000}
