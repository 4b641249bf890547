"""/api/v1: the user's conversations, sending a message (streamed as SSE), and OpenAI-compatible
/models and /chat/completions. Every route goes through chat's services, like the pages: the same
ownership checks, model permissions, rate limits, concurrent-answer limit and usage records."""
from __future__ import annotations

import json
import time
import uuid

from flask import Response, g, jsonify, request, stream_with_context

from app.ai_models import services as model_services
from app.api import answers, bp
from app.api.auth import authenticate_request, scope_required
from app.billing import limits as billing_limits
from app.chat import services as chat_services
from app.chat import streaming
from app.chat.services import GenerationOptions, ImportedMessage
from app.core.pages import page_number
from app.errors import DomainError, NotFound, ValidationFailed
from app.extensions import csrf, db
from app.security import rate_limits
from app.security.roles import acting_user

CONVERSATIONS_PAGE_SIZE = 50
MAX_CHAT_MESSAGES = 200

csrf.exempt(bp)  # bearer keys only: no cookie is accepted, so there is no cross-site request to forge
bp.before_request(authenticate_request)


class BadRequest(DomainError):
    status = 400
    api_code = "invalid_request"


# --- shapes ----------------------------------------------------------------------------------------

def _time(moment) -> str | None:
    return moment.isoformat() if moment else None


def _conversation_json(conversation) -> dict:
    return {"id": str(conversation.id), "object": "conversation", "title": conversation.title,
            "model_id": conversation.model_id, "message_count": conversation.message_count,
            "is_archived": conversation.is_archived, "is_pinned": conversation.is_pinned,
            "created_at": _time(conversation.created_at), "last_activity_at": _time(conversation.last_activity_at)}


def _message_json(message) -> dict:
    return {"id": str(message.id), "object": "message", "role": message.role, "content": message.content,
            "status": message.status, "model": message.model.model_id if message.model else None,
            "error": message.error_message, "input_tokens": message.input_tokens,
            "output_tokens": message.output_tokens, "created_at": _time(message.created_at)}


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object with Content-Type: application/json.")
    return body


def _sse(data: dict | str, event: str | None = None) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def _sse_response(events) -> Response:
    return Response(stream_with_context(events), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- conversations ---------------------------------------------------------------------------------

@bp.get("/conversations")
@scope_required("conversations:read")
def list_conversations():
    """A page of the key owner's conversations, newest activity first (?page=)."""
    page = page_number()
    rows, has_more = chat_services.conversations_page(acting_user(), page, CONVERSATIONS_PAGE_SIZE)
    return jsonify({"object": "list", "data": [_conversation_json(c) for c in rows], "page": page,
                    "has_more": has_more})


@bp.get("/conversations/<uuid:conversation_id>")
@scope_required("conversations:read")
def show_conversation(conversation_id: uuid.UUID):
    """One of the owner's conversations with its latest messages (?before=<message id> for earlier ones)."""
    conversation = chat_services.get_conversation_for(acting_user(), conversation_id)
    before = request.args.get("before")
    try:
        before_id = uuid.UUID(before) if before else None
    except ValueError:
        raise BadRequest("'before' must be a message id.") from None
    messages, has_earlier = chat_services.recent_messages(conversation, before_id)
    return jsonify({**_conversation_json(conversation), "messages": [_message_json(m) for m in messages],
                    "has_earlier": has_earlier})


def _model_id_from(body: dict) -> int | None:
    """The registry id of the model named in `body["model"]` (as /models lists it), or None for the default."""
    name = body.get("model")
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("'model' must be a model id from /api/v1/models.")
    return _resolve_model(name.strip()).id


def _resolve_model(name: str):
    for model in model_services.models_for_role(acting_user().role):
        if name in (model.model_id, str(model.id)):
            return model
    raise NotFound(f"The model '{name[:200]}' does not exist or is not available to you.")


@bp.post("/conversations/<uuid:conversation_id>/messages")
@scope_required("chat")
@rate_limits.messages
def send_message(conversation_id: uuid.UUID):
    """Send a message and get the answer: as SSE (`"stream": true`: delta events, then done) or as JSON."""
    user = acting_user()
    conversation = chat_services.get_conversation_for(user, conversation_id)
    body = _json_body()
    content = body.get("content")
    if not isinstance(content, str):
        raise BadRequest("'content' must be the message text.")
    user_message, assistant = chat_services.send_message(user, conversation, _model_id_from(body), content,
                                                         GenerationOptions(), None)
    streaming.start_generation(assistant.id)
    if body.get("stream"):
        return _sse_response(_message_events(assistant.id, user_message.id))
    return jsonify({"conversation_id": str(conversation.id), "message": _message_json(user_message),
                    "answer": _message_json(answers.wait_until_finished(assistant.id))})


def _message_events(answer_id: uuid.UUID, user_message_id: uuid.UUID):
    yield _sse({"answer_id": str(answer_id), "message_id": str(user_message_id)}, "start")
    for text in answers.text_as_written(answer_id):
        yield _sse({"text": text}, "delta") if text else ""
    yield _sse({"answer": _message_json(answers.finished(answer_id))}, "done")


# --- OpenAI-compatible -------------------------------------------------------------------------------

@bp.get("/models")
def list_models():
    """The registry's models the key owner's role may use, in OpenAI's list shape."""
    models = model_services.models_for_role(acting_user().role)
    return jsonify({"object": "list", "data": [
        {"id": m.model_id, "object": "model", "created": int(m.pricing_updated_at.timestamp())
         if m.pricing_updated_at else 0, "owned_by": m.provider, "name": m.name} for m in models]})


def _chat_messages(body: dict) -> tuple[str | None, list[ImportedMessage], str]:
    """(system prompt, earlier turns, the last user message) from an OpenAI `messages` array."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > MAX_CHAT_MESSAGES:
        raise BadRequest(f"'messages' must be a list of 1 to {MAX_CHAT_MESSAGES} messages.")
    system, turns = [], []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer", "user", "assistant"):
            raise BadRequest("Each message needs a role (system, user or assistant) and content.")
        content = message.get("content")
        if isinstance(content, list):  # content parts: the text ones count
            content = "".join(part.get("text", "") for part in content
                              if isinstance(part, dict) and part.get("type") == "text" and
                              isinstance(part.get("text"), str))
        if not isinstance(content, str):
            raise BadRequest("Each message's content must be text.")
        if message["role"] in ("system", "developer"):
            system.append(content)
        else:
            turns.append(ImportedMessage(role=message["role"], content=content))
    if not turns or turns[-1].role != "user":
        raise BadRequest("The last message must be the user's.")
    return "\n\n".join(system) or None, turns[:-1], turns[-1].content


def _options(body: dict) -> GenerationOptions:
    from decimal import Decimal, InvalidOperation

    def number(name, low, high):
        value = body.get(name)
        if value is None:
            return None
        try:
            if isinstance(value, bool) or not low <= float(value) <= high:
                raise ValueError
            return Decimal(str(value))
        except (TypeError, ValueError, InvalidOperation):
            raise BadRequest(f"'{name}' must be a number from {low} to {high}.") from None

    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or not 1 <= max_tokens <= 1_000_000):
        raise BadRequest("'max_tokens' must be a whole number from 1 to 1000000.")
    return GenerationOptions(temperature=number("temperature", 0, 2), top_p=number("top_p", 0, 1),
                             max_tokens=max_tokens)


@bp.post("/chat/completions")
@scope_required("chat")
@rate_limits.messages
def chat_completions():
    """OpenAI's chat completions: the conversation is kept in Studio like one started on the pages
    (earlier turns stored as sent), and the answer is written by the same generator."""
    user = acting_user()
    body = _json_body()
    model = _resolve_model(body["model"]) if isinstance(body.get("model"), str) else None
    if model is None:
        raise BadRequest("'model' must be a model id from /api/v1/models.")
    system_prompt, earlier, text = _chat_messages(body)
    options = _options(body)
    if earlier:
        # Refused before the earlier turns are stored: a refused request leaves nothing behind.
        billing_limits.check_can_send(user, None)
        conversation = chat_services.add_imported_conversation(
            user, chat_services.heuristic_title(earlier[0].content or text), earlier, model=model,
            system_prompt=system_prompt)
        _user_message, assistant = chat_services.send_message(user, conversation, model.id, text, options, None)
    else:
        conversation, assistant = chat_services.start_conversation(user, model.id, text, options, None,
                                                                   system_prompt=system_prompt)
    if assistant is None:
        raise ValidationFailed("The message could not be sent.")
    streaming.start_generation(assistant.id)
    completion_id = f"chatcmpl-{assistant.id.hex}"
    created = int(time.time())
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) \
            if isinstance(body.get("stream_options"), dict) else False
        return _sse_response(_completion_chunks(assistant.id, completion_id, created, model.model_id, include_usage))
    answer = answers.wait_until_finished(assistant.id)
    _refuse_failed(answer)
    return jsonify({"id": completion_id, "object": "chat.completion", "created": created, "model": model.model_id,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.content},
                                 "finish_reason": _finish_reason(answer)}],
                    "usage": _usage(answer)})


def _refuse_failed(answer) -> None:
    if answer is None or answer.status == "failed":
        error = DomainError((answer.error_message if answer else None) or "The model could not answer.")
        error.status = 502
        error.api_code = "model_error"
        raise error


def _finish_reason(answer) -> str:
    return "length" if (answer.finish_reason or "") in ("length", "max_tokens") else "stop"


def _usage(answer) -> dict:
    prompt, completion = answer.input_tokens or 0, answer.output_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion_chunks(answer_id, completion_id: str, created: int, model_name: str, include_usage: bool):
    def chunk(delta: dict, finish_reason=None) -> dict:
        return {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    yield _sse(chunk({"role": "assistant", "content": ""}))
    for text in answers.text_as_written(answer_id):
        yield _sse(chunk({"content": text})) if text else ""
    answer = answers.finished(answer_id)
    if answer is None or answer.status == "failed":
        message = (answer.error_message if answer else None) or "The model could not answer."
        yield _sse({"error": {"message": message, "type": "server_error", "code": "model_error"}})
    else:
        yield _sse(chunk({}, _finish_reason(answer)))
        if include_usage:
            yield _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                        "model": model_name, "choices": [], "usage": _usage(answer)})
    yield _sse("[DONE]")
    db.session.remove()


@bp.get("/me")
def me():
    """Who the key belongs to and what it may do."""
    user = acting_user()
    return jsonify({"object": "user", "id": str(user.id), "display_name": user.display_name, "role": user.role,
                    "key": {"prefix": g.api_key.key_prefix, "name": g.api_key.name, "scopes": g.api_key.scopes}})
