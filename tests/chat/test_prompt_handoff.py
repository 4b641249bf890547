"""Chat and the prompt library: a used prompt fills the composer; any message can become a prompt."""
from __future__ import annotations

from tests.factories import make_conversation
from tests.prompts.factories import make_prompt


def test_using_a_prompt_fills_the_new_chat_composer_for_its_user_only(login_as):
    from app.prompts.services import use_prompt

    person = login_as("user")
    prompt = make_prompt(person.user, content="Summarise {{ topic }} in three lines.")
    event = use_prompt(person.user, prompt.id, {"topic": "<b>tides</b>"})
    html = person.get(f"/chat?prompt_use={event.id}").get_data(as_text=True)
    assert "Summarise &lt;b&gt;tides&lt;/b&gt; in three lines.</textarea>" in html
    stranger = login_as("user")
    assert "Summarise" not in stranger.get(f"/chat?prompt_use={event.id}").get_data(as_text=True)
    assert person.get("/chat?prompt_use=not-an-id").status_code == 200


def test_every_message_offers_save_as_prompt(login_as):
    person = login_as("user")
    conversation = make_conversation(person.user, messages=2)
    html = person.get(f"/chat/{conversation.id}").get_data(as_text=True)
    assert html.count("Save as prompt") == 2 and "/prompts/new?from_message=" in html
