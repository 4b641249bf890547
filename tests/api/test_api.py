"""The JSON API: bearer keys only, scopes, expiry, revocation, ownership, JSON errors, OpenAI SDK."""
from __future__ import annotations

from datetime import timedelta

import openai
import pytest

from app.api import keys
from app.api.models import ApiKey
from app.extensions import db
from app.models.base import utcnow
from app.security.origin import Origin
from tests.factories import make_conversation, make_user

ORIGIN = Origin("127.0.0.1", "pytest")
BOTH = ["conversations:read", "chat"]


def make_key(user, scopes=BOTH, days=None):
    _row, key = keys.create_key(user, "test key", scopes, days, ORIGIN)
    return key


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def assert_openai_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) >= {"message", "type", "code"}
    return error


@pytest.mark.postgres
def test_key_reads_own_conversations_and_others_are_404(client):
    owner, other = make_user(), make_user()
    mine = make_conversation(owner, messages=2, title="Mine")
    theirs = make_conversation(other, messages=2, title="Theirs")
    key = make_key(owner)
    listed = client.get("/api/v1/conversations", headers=bearer(key)).get_json()
    assert [c["title"] for c in listed["data"]] == ["Mine"]
    shown = client.get(f"/api/v1/conversations/{mine.id}", headers=bearer(key)).get_json()
    assert [m["content"] for m in shown["messages"]] == ["Message 0 from the user", "Message 1 from the assistant"]
    assert_openai_error(client.get(f"/api/v1/conversations/{theirs.id}", headers=bearer(key)), 404)
    response = client.post(f"/api/v1/conversations/{theirs.id}/messages", json={"content": "hi"}, headers=bearer(key))
    assert_openai_error(response, 404)


def test_no_key_a_session_cookie_or_a_query_key_is_refused(login_as):
    signed_in = login_as("user")
    key = make_key(signed_in.user)
    error = assert_openai_error(signed_in.get("/api/v1/conversations"), 401)  # the cookie does not count
    assert error["code"] == "invalid_api_key"
    assert_openai_error(signed_in.get(f"/api/v1/conversations?api_key={key}"), 401)
    assert_openai_error(signed_in.get("/api/v1/models", headers={"X-Api-Key": key}), 401)
    assert signed_in.get("/api/v1/models", headers=bearer(key)).status_code == 200


@pytest.mark.postgres
def test_an_unconfirmed_address_cannot_use_the_api_until_confirmed(app, client):
    user = make_user()
    key = make_key(user)
    app.config["EMAIL_VERIFICATION"] = True
    user.is_email_verified = False
    db.session.commit()
    error = assert_openai_error(client.post("/api/v1/chat/completions", headers=bearer(key), json={
        "model": "echo", "messages": [{"role": "user", "content": "hi"}]}), 403)
    assert "Confirm your e-mail" in error["message"]
    assert_openai_error(client.get("/api/v1/conversations", headers=bearer(key)), 403)
    user.is_email_verified = True
    db.session.commit()
    assert client.get("/api/v1/conversations", headers=bearer(key)).status_code == 200


def test_revoked_or_expired_key_answers_401_everywhere(client):
    user = make_user()
    conversation = make_conversation(user, messages=2)
    revoked, expired = make_key(user), make_key(user, days=7)
    row = db.session.scalar(db.select(ApiKey).where(ApiKey.key_hash == keys._digest(revoked)))
    keys.revoke_key(user, row.id, ORIGIN)
    row = db.session.scalar(db.select(ApiKey).where(ApiKey.key_hash == keys._digest(expired)))
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    for key in (revoked, expired):
        for method, path in (("get", "/api/v1/models"), ("get", "/api/v1/conversations"),
                             ("get", f"/api/v1/conversations/{conversation.id}"),
                             ("post", f"/api/v1/conversations/{conversation.id}/messages"),
                             ("post", "/api/v1/chat/completions")):
            assert_openai_error(getattr(client, method)(path, headers=bearer(key), json={}), 401)


def test_scopes_limit_what_a_key_may_do(client):
    user = make_user()
    conversation = make_conversation(user, messages=2)
    read_only, chat_only = make_key(user, ["conversations:read"]), make_key(user, ["chat"])
    response = client.post(f"/api/v1/conversations/{conversation.id}/messages", json={"content": "hi"},
                           headers=bearer(read_only))
    assert assert_openai_error(response, 403)["code"] == "insufficient_scope"
    assert_openai_error(client.get("/api/v1/conversations", headers=bearer(chat_only)), 403)
    assert client.get("/api/v1/conversations", headers=bearer(read_only)).status_code == 200


def test_unknown_api_path_and_bad_body_answer_json(client):
    key = make_key(make_user())
    assert_openai_error(client.get("/api/v1/nothing-here", headers=bearer(key)), 404)
    assert_openai_error(client.post("/api/v1/chat/completions", data="not json", headers=bearer(key)), 400)
    response = client.post("/api/v1/chat/completions", json={"model": "nope", "messages": []}, headers=bearer(key))
    assert response.status_code in (400, 404)


def test_key_is_stored_hashed_and_listed_by_prefix(app):
    user = make_user()
    row, key = keys.create_key(user, "laptop", ["chat"], 30, ORIGIN)
    assert key not in (row.key_hash, row.key_prefix) and key.startswith(row.key_prefix + "_")
    assert row.expires_at is not None


@pytest.mark.postgres
def test_send_message_streams_the_answer_and_records_usage(client):
    from app.chat.models import ModelRequest

    user = make_user()
    conversation = make_conversation(user, messages=2)
    key = make_key(user)
    response = client.post(f"/api/v1/conversations/{conversation.id}/messages",
                           json={"content": "Hello API", "stream": True}, headers=bearer(key))
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    assert "event: delta" in body and "event: done" in body and '"status":"complete"' in body
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(ModelRequest)
                             .where(ModelRequest.user_id == user.id)) >= 1


def test_rate_limit_answers_429_in_openai_shape(app, client):
    app.config["LIMIT_MESSAGES_PER_MINUTE"] = 1
    user = make_user()
    key = make_key(user)
    body = {"model": "echo-demo", "messages": [{"role": "user", "content": "hi"}]}
    from tests.factories import demo_model
    body["model"] = demo_model().model_id
    first = client.post("/api/v1/chat/completions", json=body, headers=bearer(key))
    assert first.status_code == 200, first.get_data(as_text=True)
    error = assert_openai_error(client.post("/api/v1/chat/completions", json=body, headers=bearer(key)), 429)
    assert error["type"] == "rate_limit_error"


@pytest.mark.postgres
def test_openai_sdk_lists_models_and_streams_a_completion(live_server):
    from tests.factories import demo_model

    key = make_key(make_user())
    sdk = openai.OpenAI(api_key=key, base_url=f"{live_server}/api/v1", max_retries=0, timeout=30)
    names = [model.id for model in sdk.models.list()]
    assert demo_model().model_id in names
    stream = sdk.chat.completions.create(model=demo_model().model_id, stream=True,
                                         messages=[{"role": "system", "content": "Be brief."},
                                                   {"role": "user", "content": "Say hello to the SDK"}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    completion = sdk.chat.completions.create(model=demo_model().model_id,
                                             messages=[{"role": "user", "content": "once more"}])
    assert completion.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="studio_bad_key", base_url=f"{live_server}/api/v1", max_retries=0).models.list()
