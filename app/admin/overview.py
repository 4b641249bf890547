"""The numbers on /admin: activity, money this month against last, failing models, queues."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from app.admin import feedback
from app.admin.services import pending_signup_count
from app.auth.models import UserSession
from app.extensions import db
from app.models.base import utcnow
from app.usage import services as usage

FAILING_WINDOW = timedelta(hours=1)


@dataclass
class ModelHealth:
    provider: str
    model: str
    request_count: int
    error_count: int

    @property
    def error_rate(self) -> float:
        return self.error_count / self.request_count if self.request_count else 0.0


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month_start(day: date) -> date:
    return (month_start(day) - timedelta(days=1)).replace(day=1)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def active_users_today(now: datetime) -> int:
    """People whose session was used since midnight UTC."""
    return db.session.scalar(select(func.count(func.distinct(UserSession.user_id)))
                             .where(UserSession.last_seen_at >= _start_of(now.date()))) or 0


def messages_between(start: date, end: date) -> int:
    """Messages written (by people and models) on the days start..end-1."""
    from app.chat.models import Message  # a count over chat's table; chat has no counting service yet

    return db.session.scalar(select(func.count(Message.id)).where(
        Message.created_at >= _start_of(start), Message.created_at < _start_of(end))) or 0


def model_health(now: datetime) -> list[ModelHealth]:
    """Calls and failures per model over the last hour, the worst error rate first; models with
    no failure are left out."""
    from app.chat.models import ModelRequest

    call = ModelRequest
    errors = func.sum(usage.case_status(call.status, "error"))
    rows = db.session.execute(
        select(call.provider, call.model_name, func.count(call.id), errors)
        .where(call.requested_at >= now - FAILING_WINDOW, call.responded_at.is_not(None))
        .group_by(call.provider, call.model_name).having(errors > 0))
    health = [ModelHealth(provider, model, int(requests), int(failed or 0))
              for provider, model, requests, failed in rows]
    return sorted(health, key=lambda item: (-item.error_rate, item.model))


def pending_moderation_count() -> int:
    """Public prompts waiting for a moderator."""
    from app.prompts.models import Prompt

    return db.session.scalar(select(func.count(Prompt.id)).where(Prompt.moderation_status == "pending")) or 0


def failed_jobs_count(now: datetime) -> int:
    """Background jobs that failed for good in the last seven days."""
    from app.jobs.models import Job

    return db.session.scalar(select(func.count(Job.id)).where(
        Job.status == "failed", Job.finished_at >= now - timedelta(days=7))) or 0


def overview(now: datetime | None = None) -> dict:
    """Everything the overview shows."""
    now = now or utcnow()
    today = now.date()
    this_month, last_month = month_start(today), previous_month_start(today)
    tomorrow = today + timedelta(days=1)
    return {
        "active_users_today": active_users_today(now),
        "messages_this_month": messages_between(this_month, tomorrow),
        "messages_last_month": messages_between(last_month, this_month),
        "usage_this_month": usage.totals_between(this_month, tomorrow),
        "usage_last_month": usage.totals_between(last_month, this_month),
        "failing_models": model_health(now),
        "pending_moderation": pending_moderation_count(),
        "pending_signups": pending_signup_count(),
        "failed_jobs": failed_jobs_count(now),
        "feedback_to_review": feedback.unreviewed_count(),
    }
