"""Conversations and messages (seed 003 `nexus_conversations`, `nexus_messages`), per-message
options (seed 001 `ai_options`), provider calls (seed 000 `model_requests`) and feedback
(seed 000 `feedback_items`)."""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Optional

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import JSONType, Timestamps, UTCDateTime, UUIDPrimaryKey, user_ref_set_null, utcnow

MONEY = Numeric(18, 10)
REASONING_EFFORTS = ("low", "medium", "high")  # OpenAI's reasoning_effort
THINKING_BUDGET_RANGE = (1024, 128_000)  # Anthropic's extended thinking: its minimum budget is 1,024 tokens


class Conversation(UUIDPrimaryKey, Timestamps, db.Model):
    __tablename__ = "nexus_conversations"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="New conversation")
    model_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"), nullable=True)
    folder_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("nexus_folders.id", ondelete="SET NULL"), nullable=True)
    system_prompt: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    is_title_set_by_user: Mapped[bool] = mapped_column(Boolean, default=False)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    total_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_cost_usd: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    last_message_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    # Sidebar order: the last activity (creation or last message), never null so it can be a keyset.
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The new-chat composer's one-time token: a double-clicked send opens one conversation.
    client_request_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    # Replace the turns left out of a request by a running summary (written by the admin's summary model).
    is_summary_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where an imported conversation came from (ChatGPT's conversation id, a Studio export's id, or a
    # content hash): importing the same file again finds it and adds nothing.
    import_source_id: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    # The organisation its answers are billed to (app/billing); NULL: the owner's personal one.
    tenant_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("tenant_accounts.id", ondelete="SET NULL"), nullable=True)

    model = relationship("AIModel", lazy="joined")

    __table_args__ = (
        Index("ix_nexus_conversations_sidebar", "user_id", "is_archived", "folder_id", "is_pinned",
              "last_activity_at", "id"),
        Index("ix_nexus_conversations_folder", "folder_id", "is_archived", "is_pinned", "last_activity_at"),
        UniqueConstraint("user_id", "client_request_id", name="uq_nexus_conversations_client_request"),
        Index("uq_nexus_conversations_import_source", "user_id", "import_source_id", unique=True,
              postgresql_where=text("import_source_id IS NOT NULL"), sqlite_where=text("import_source_id IS NOT NULL")),
    )


class Message(UUIDPrimaryKey, db.Model):
    """One message; UUIDv7 ids order the conversation. Text and its rendered HTML are stored once."""

    __tablename__ = "nexus_messages"

    conversation_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("nexus_conversations.id", ondelete="CASCADE"))
    # The owner, copied from the conversation: search stays inside one user's rows in the index.
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(15))
    content: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    renderer_version: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    reasoning_content: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    parts: Mapped[Optional[list]] = mapped_column(JSONType, nullable=True)
    model_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"), nullable=True)
    # complete | streaming | stopped | failed
    status: Mapped[str] = mapped_column(String(12), default="complete")
    finish_reason: Mapped[Optional[str]] = mapped_column(String(40), nullable=True)
    error_message: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    input_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    output_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    cached_input_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    cost_usd: Mapped[Optional[Decimal]] = mapped_column(MONEY, nullable=True)
    # Generation control, shared across processes through the database.
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    stop_requested_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    # The composer's one-time token: a double-clicked send stores one message.
    client_request_id: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    # Messages are never rewritten: an edit or a regenerate keeps this one, superseded by the first
    # message of the new branch (the edited question, or the new answer). Share snapshots still show
    # it if it was current then. No foreign key, like nexus_shares.snapshot_message_id: SQLite could
    # add one only by rebuilding the table, which would drop the search triggers (see 0005).
    superseded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    superseded_by_id: Mapped[Optional[uuid.UUID]] = mapped_column(Uuid, nullable=True)
    # For an answer: how many earlier messages did not fit the model's context and were not sent, and
    # the summary sent in their place (no foreign key, as above).
    context_left_out_count: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    context_summary_id: Mapped[Optional[uuid.UUID]] = mapped_column(Uuid, nullable=True)

    model = relationship("AIModel", lazy="joined")
    options = relationship("MessageOptions", uselist=False, lazy="selectin", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_nexus_messages_conversation", "conversation_id", "id"),
        # The conversation as it is now (every page, history, export): only current messages.
        Index("ix_nexus_messages_current", "conversation_id", "id",
              postgresql_where=text("superseded_by_id IS NULL"), sqlite_where=text("superseded_by_id IS NULL")),
        # The earlier versions a message replaced ("show previous version").
        Index("ix_nexus_messages_superseded_by", "superseded_by_id",
              postgresql_where=text("superseded_by_id IS NOT NULL"),
              sqlite_where=text("superseded_by_id IS NOT NULL")),
        # Answers being written, counted per person before every new one (the concurrent limit).
        Index("ix_nexus_messages_in_progress", "user_id",
              postgresql_where=text("status IN ('streaming', 'pending')"),
              sqlite_where=text("status IN ('streaming', 'pending')")),
        UniqueConstraint("conversation_id", "client_request_id", name="uq_nexus_messages_client_request"),
        CheckConstraint("role IN ('user', 'assistant', 'system')", name="role_known"),
        CheckConstraint("status IN ('complete', 'streaming', 'stopped', 'failed')", name="status_known"),
    )

    @property
    def is_streaming(self) -> bool:
        return self.status == "streaming"


class MessageOptions(UUIDPrimaryKey, db.Model):
    """Generation options of one answer (seed 001 `ai_options`), with the same limits as the form."""

    __tablename__ = "ai_options"

    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("nexus_messages.id", ondelete="CASCADE"), unique=True)
    max_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    temperature: Mapped[Optional[Decimal]] = mapped_column(Numeric(4, 2), nullable=True)
    top_p: Mapped[Optional[Decimal]] = mapped_column(Numeric(4, 3), nullable=True)
    frequency_penalty: Mapped[Optional[Decimal]] = mapped_column(Numeric(4, 2), nullable=True)
    presence_penalty: Mapped[Optional[Decimal]] = mapped_column(Numeric(4, 2), nullable=True)
    # Sent only to models that accept them (see AIModel.accepts_*).
    reasoning_effort: Mapped[Optional[str]] = mapped_column(String(10), nullable=True)
    thinking_budget_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("max_tokens IS NULL OR max_tokens > 0", name="max_tokens_positive"),
        CheckConstraint("temperature IS NULL OR (temperature >= 0 AND temperature <= 2)", name="temperature_range"),
        CheckConstraint("top_p IS NULL OR (top_p >= 0 AND top_p <= 1)", name="top_p_range"),
        CheckConstraint("frequency_penalty IS NULL OR (frequency_penalty >= -2 AND frequency_penalty <= 2)",
                        name="frequency_penalty_range"),
        CheckConstraint("presence_penalty IS NULL OR (presence_penalty >= -2 AND presence_penalty <= 2)",
                        name="presence_penalty_range"),
        CheckConstraint("reasoning_effort IS NULL OR reasoning_effort IN ('low', 'medium', 'high')",
                        name="reasoning_effort_known"),
        CheckConstraint(f"thinking_budget_tokens IS NULL OR (thinking_budget_tokens >= {THINKING_BUDGET_RANGE[0]} "
                        f"AND thinking_budget_tokens <= {THINKING_BUDGET_RANGE[1]})", name="thinking_budget_range"),
    )


class ModelRequest(UUIDPrimaryKey, db.Model):
    """One call to a provider, with its timing, tokens and cost at the prices of that moment."""

    __tablename__ = "model_requests"

    user_id: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    chat_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("nexus_conversations.id", ondelete="SET NULL"), nullable=True)
    message_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("nexus_messages.id", ondelete="SET NULL"), nullable=True)
    ai_model_id: Mapped[Optional[int]] = mapped_column(ForeignKey("ai_models.id", ondelete="SET NULL"), nullable=True)
    model_name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(30))
    task_type: Mapped[str] = mapped_column(String(30), default="chat")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_token_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    responded_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    latency_ms: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    time_to_first_token_ms: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # A part of output_tokens, when the provider reports it apart (OpenAI's reasoning models).
    reasoning_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    input_cost_usd: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    output_cost_usd: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    total_cost_usd: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|success|error|stopped
    error_code: Mapped[Optional[str]] = mapped_column(String(40), nullable=True)
    error_message: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    temperature: Mapped[Optional[Decimal]] = mapped_column(Numeric(4, 2), nullable=True)
    max_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    # What app.llm.tokens estimated for the input sent: with input_tokens, it calibrates the estimate.
    estimated_input_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    # The organisation the call was billed to (app/billing metering); NULL for calls before billing.
    tenant_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("tenant_accounts.id", ondelete="SET NULL"), nullable=True)

    __table_args__ = (
        Index("ix_model_requests_user_requested", "user_id", "requested_at"),
        Index("ix_model_requests_tenant_requested", "tenant_id", "requested_at"),
        Index("ix_model_requests_requested", "requested_at"),
        Index("ix_model_requests_model_requested", "ai_model_id", "requested_at"),
    )


class ConversationSummary(UUIDPrimaryKey, db.Model):
    """A running summary of a conversation's earlier messages (seed 002 `conversation_summaries`),
    sent in place of the turns that no longer fit the model. A refresh adds a row; the newest is used."""

    __tablename__ = "nexus_conversation_summaries"

    conversation_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("nexus_conversations.id", ondelete="CASCADE"))
    summary_text: Mapped[str] = mapped_column(Text)
    summary_model: Mapped[Optional[str]] = mapped_column(String(200), nullable=True)
    summary_length_tokens: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    # The newest message the summary covers, and how many current messages up to it it stands for.
    covers_through_message_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    covered_message_count: Mapped[int] = mapped_column(Integer, default=0)
    model_request_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("model_requests.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_nexus_conversation_summaries_conversation", "conversation_id", "id"),
    )


class FeedbackItem(UUIDPrimaryKey, db.Model):
    """Thumbs up or down, with an optional comment, on one answer."""

    __tablename__ = "feedback_items"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    chat_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("nexus_conversations.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("nexus_messages.id", ondelete="CASCADE"))
    model_request_id: Mapped[Optional[uuid.UUID]] = mapped_column(
        Uuid, ForeignKey("model_requests.id", ondelete="SET NULL"), nullable=True)
    category: Mapped[str] = mapped_column(String(10))  # up | down
    content: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="chat")
    status: Mapped[str] = mapped_column(String(20), default="new")  # new | reviewed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An admin's review (/admin/feedback).
    reviewed_by: Mapped[Optional[uuid.UUID]] = user_ref_set_null()
    reviewed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime, nullable=True)
    resolution_notes: Mapped[Optional[str]] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("user_id", "message_id", name="uq_feedback_items_user_message"),
        Index("ix_feedback_items_category_created", "category", "created_at"),
        CheckConstraint("category IN ('up', 'down')", name="category_known"),
    )
