"""Crafted input never answers 500: Unicode digits, huge numbers, NaN and Infinity, broken cursors,
NUL bytes, invalid UTF-8 escapes. First the cases found by hand, then every route of the app, as
each role, with values Hypothesis makes up."""
from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import quote, urlsplit

import pytest
from flask import has_request_context, request
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from werkzeug.datastructures import ImmutableMultiDict

from app.ai_models.models import AIModel
from app.auth.two_factor_models import RolePolicy
from app.chat.models import Conversation, Message
from app.extensions import db
from app.folders.models import Folder
from app.ideas.models import IdeaNote
from app.nav.services import all_items
from app.sharing import services as sharing_services
from tests.conftest import csrf_token_of, log_in
from tests.factories import demo_model, make_conversation, make_user
from tests.ideas.factories import make_idea
from tests.prompts.factories import make_prompt

# "²" and "①" pass str.isdigit(), and int() refuses them.
UNICODE_DIGITS = ["²", "①"]
HUGE_NUMBER = "99999999999999999999999"


def make_folder(user, name: str = "Crafted") -> Folder:
    folder = Folder(user_id=user.id, name=name, color="gray", icon="folder")
    db.session.add(folder)
    db.session.commit()
    return folder


def conversation_count(user) -> int:
    return db.session.scalar(select(func.count(Conversation.id)).where(Conversation.user_id == user.id))


# --- the cases found by hand ---------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.parametrize("page", UNICODE_DIGITS)
def test_a_unicode_digit_page_number_shows_the_first_page_of_every_list(login_as, page):
    admin = login_as("admin")
    author = make_user()
    make_conversation(admin.user, title="Needle talk", messages=2)
    make_conversation(admin.user, title="Archived talk", is_archived=True)
    folder = make_folder(admin.user)
    idea = make_idea(admin.user, title="Crafted idea", notes=1)
    make_prompt(admin.user, title="My crafted prompt")
    make_prompt(author, title="Waiting crafted prompt", status="pending")
    first_pages = {
        "/chat/search?q=needle": "</mark> talk",
        "/chat/archive": "Archived talk",
        "/ideas": "Crafted idea",
        f"/ideas/{idea.id}": "Note 0",
        "/prompts": "My crafted prompt",
        "/moderation/prompts": "Waiting crafted prompt",
        "/admin/users": admin.user.email,
        "/admin/audit": "Audit",
        f"/chat/folders/{folder.id}/conversations": "",
    }
    for path, shown in first_pages.items():
        response = admin.get(f"{path}{'&' if '?' in path else '?'}page={quote(page)}")
        assert response.status_code == 200, (path, response.status_code)
        assert shown in response.get_data(as_text=True), path


@pytest.mark.postgres
def test_a_sidebar_cursor_past_the_year_9999_is_refused_plainly(login_as):
    person = login_as("user")
    make_conversation(person.user, title="Still listed")
    response = person.get(f"/chat/sidebar?cursor=999999999999.000000_{'f' * 32}")
    assert response.status_code == 422
    assert "That page of the list does not exist." in response.get_data(as_text=True)
    assert "Still listed" in person.get("/chat/sidebar").get_data(as_text=True)


@pytest.mark.postgres
def test_a_model_id_beyond_any_id_is_not_available_and_starts_nothing(login_as):
    person = login_as("user")
    response = person.post("/chat", {"content": "Hello", "model_id": HUGE_NUMBER})
    assert response.status_code == 404
    assert "That model is not available." in response.get_data(as_text=True)
    assert conversation_count(person.user) == 0

    conversation = make_conversation(person.user)
    response = person.post(f"/chat/{conversation.id}/settings", {"settings-model_id": HUGE_NUMBER})
    assert response.status_code == 404
    db.session.refresh(conversation)
    assert conversation.model_id == demo_model().id


@pytest.mark.parametrize("value", ["NaN", "sNaN", "-sNaN", "Infinity", "-Infinity"])
def test_a_non_finite_generation_option_is_refused_beside_its_field(login_as, value):
    person = login_as("user")
    fields = {"temperature": "Temperature", "top_p": "Top p", "frequency_penalty": "Frequency penalty",
              "presence_penalty": "Presence penalty"}
    response = person.post("/chat", {"content": "Keep this text", **dict.fromkeys(fields, value)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for label in fields.values():
        assert f"{label} must be a plain number, like 0.7." in html
    assert "Keep this text" in html
    assert conversation_count(person.user) == 0


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity"])
def test_a_non_finite_model_price_is_refused_beside_its_field(login_as, value):
    admin = login_as("admin")
    response = admin.post("/admin/models/new", {
        "name": "Crafted prices", "provider": "echo", "model_id": "crafted", "input_cost_per_million": value,
        "output_cost_per_million": "1", "cached_input_cost_per_million": "0"})
    assert response.status_code == 200
    assert "Input price (USD / 1M tokens) must be a plain number, like 0.7." in response.get_data(as_text=True)
    assert db.session.scalar(select(AIModel).where(AIModel.name == "Crafted prices")) is None


@pytest.mark.postgres
def test_a_registry_address_with_a_huge_model_number_is_not_found(login_as):
    admin = login_as("admin")
    assert admin.get(f"/admin/models/{HUGE_NUMBER}").status_code == 404
    assert admin.post(f"/admin/models/{HUGE_NUMBER}", {"name": "x"}).status_code == 404
    assert admin.get(f"/admin/navigation/{HUGE_NUMBER}").status_code == 404


def test_a_refused_send_to_an_address_naming_no_conversation_is_a_plain_refusal(app, login_as):
    app.config["LIMIT_MESSAGES_PER_MINUTE"] = 1
    person = login_as("user")
    nobodys = f"/chat/{uuid.uuid4()}/messages"
    person.post(nobodys, {"content": "Hello"})
    response = person.post(nobodys, {"content": "Hello"})
    assert response.status_code == 429
    assert "too fast" in response.get_data(as_text=True)


@pytest.mark.postgres
def test_a_nul_byte_in_searches_names_and_links_is_no_error(app, client, login_as):
    admin = login_as("admin")
    assert admin.get("/admin/users?q=%00").status_code == 200
    assert admin.get("/admin/audit?entity=%00").status_code == 200
    response = admin.post("/account/profile", {"display_name": "Nul\x00 Name"})
    assert response.status_code in (200, 303)
    db.session.refresh(admin.user)
    assert admin.user.display_name == "Nul Name"
    assert client.get("/s/%00").status_code == 404
    signed_out = client.post("/login", data={"email": "a\x00@example.org", "password": "x",
                                             "csrf_token": csrf_token_of(client)})
    assert signed_out.status_code == 200
    assert "Email or password is incorrect." in signed_out.get_data(as_text=True)


@pytest.mark.postgres
@pytest.mark.parametrize("version", UNICODE_DIGITS)
def test_an_unreadable_prompt_version_counts_as_stale_and_keeps_the_saved_prompt(login_as, version):
    person = login_as("user")
    prompt = make_prompt(person.user, title="Saved title")
    response = person.post(f"/prompts/{prompt.id}/edit", {
        "title": "Typed title", "content": "Write about {{ topic }}.", "visibility": "private", "version": version})
    assert response.status_code != 500
    assert "This prompt changed since you opened it." in response.get_data(as_text=True)
    db.session.refresh(prompt)
    assert prompt.title == "Saved title"


# --- every route, every role, made-up values ------------------------------------------------------

ROLES = ("user", "moderator", "admin")
SKIPPED_ENDPOINTS = {"auth.logout"}  # signing out would end the walk, not find anything
# Names no probe meets (read only on some paths), sent now and then to every route.
EXTRA_NAMES = ["page", "q", "cursor", "before", "at", "current", "after", "tab", "sort", "status", "tags",
               "entity", "parent", "prompt_use", "from_message", "next", "model_id", "version", "folder_id",
               "direction", "expanded", "pinned", "archived", "expiry", "from", "settings-model_id"]
# Values a form may well accept, so one crafted field among them reaches the code behind the validation.
PLAIN_FORM = {"content": "Hello there", "title": "A title", "name": "A name", "visibility": "private",
              "category": "up", "color": "blue", "icon": "star", "direction": "up", "expiry": "1d",
              "priority_level": "medium", "provider": "echo", "model_id": "1", "settings-model_id": "1",
              "label": "A label", "link": "/chat", "item_type": "link", "requires_role": "user",
              "input_cost_per_million": "0", "output_cost_per_million": "0", "cached_input_cost_per_million": "0",
              "reason": "Because", "role": "user", "status": "planned", "topic": "tests", "description": "Why"}
HTMX_TARGETS = ["search-results", "user-rows", "prompt-results", "idea-results", "load-earlier", "composer", "x"]
NAUGHTY = ["<script>alert(1)</script>", "' OR 1=1 --", "%", "_", "\\", "{{ 7*7 }}", "../../etc/passwd",
           "\u202etxt.exe", "\ufeff", "😀" * 20, "null", "true", "-0", "0x10", "1_000", "1e3", " 1 ", "\r\n",
           "\u2028", "&", "=", "?", "#", "Ω≈ç√∫", "ﷺ", "  "]
CURSORS = [f"999999999999.000000_{'f' * 32}", f"253402300800.000000_{'a' * 32}", f"0.000000_{'0' * 32}",
           f"١٢٣٤٥٦٧٨٩٠.١٢٣٤٥٦_{'0' * 32}", "1.5_x", "_"]
RAW_ESCAPES = ["%FF", "%C3%28", "%ED%A0%80", "%F4%90%80%80", "%C0%AF", "%E2%82", "%00", "%", "%Z1", "%FE%FF"]
# One of each kind, tried in all the fields of every route at once, and the number-like ones in each
# field alone among plain values (as an admin, who reaches every route).
NUMBER_LIKE = [quote(v, safe="") for v in ["²", HUGE_NUMBER, "sNaN"]]
BATTERY = NUMBER_LIKE + [quote(v, safe="") for v in ["Infinity", "\x00", "9" * 5000, CURSORS[0]]] + ["%C3%28"]
SPECIALS = [quote(v, safe="") for v in [
    *UNICODE_DIGITS, "١٢", "𝟙𝟚", HUGE_NUMBER, "9" * 40, "-1", "0", "2147483648", "9223372036854775808",
    "NaN", "sNaN", "-sNaN", "Infinity", "-Infinity", "1e999999", "1e-999999", "", " ", "\x00", "a\x00b",
    "9" * 5000, "a" * 20_000, *CURSORS]] + RAW_ESCAPES


def crafted_values(real_ids: list[str]) -> st.SearchStrategy[str]:
    """One value, already percent-encoded (or a raw escape that decodes to invalid UTF-8)."""
    encoded = st.text(max_size=40) | st.sampled_from(NAUGHTY) | st.text(st.characters(categories=["Nd", "No"]),
                                                                        min_size=1, max_size=12)
    return st.one_of(st.sampled_from(SPECIALS), st.sampled_from(SPECIALS), encoded.map(lambda v: quote(v, safe="")),
                     st.integers(min_value=-10**30, max_value=10**30).map(str), st.uuids().map(str),
                     st.sampled_from(real_ids))


def path_values(converter: str, real_ids: dict[str, list[str]], name: str) -> st.SearchStrategy[str]:
    """A value for one path parameter: ids of real objects, random UUIDs, bogus numbers, any text."""
    real = st.sampled_from(real_ids.get(name) or ["1"])
    if converter == "uuid":
        return real | st.uuids().map(str)
    if converter == "int":
        return real | st.sampled_from([HUGE_NUMBER, "0", "2147483648", quote("²")]) | st.integers(0, 10**30).map(str)
    return real | st.text(min_size=1, max_size=80).map(lambda v: quote(v, safe="")) | st.sampled_from(RAW_ESCAPES)


PARAMETER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _world(person, victim) -> dict[str, list[str]]:
    """Objects of every kind the routes name, most of them the person's own."""
    user = person.user
    conversation = make_conversation(user, messages=2)
    messages = list(db.session.scalars(select(Message.id).where(Message.conversation_id == conversation.id)))
    folder = make_folder(user)
    idea = make_idea(user, notes=1)
    share = sharing_services.create_share(user, conversation, "1d")
    return {
        "conversation_id": [str(conversation.id)], "message_id": [str(m) for m in messages],
        "folder_id": [str(folder.id)], "idea_id": [str(idea.id)],
        "note_id": [str(n) for n in db.session.scalars(select(IdeaNote.id).where(IdeaNote.idea_id == idea.id))],
        "prompt_id": [str(make_prompt(user).id), str(make_prompt(victim, status="pending").id)],
        "share_id": [str(share.id)], "token": [share.share_token], "user_id": [str(victim.id)],
        "model_id": [str(demo_model().id)], "item_id": [str(item.id) for item in all_items()] or ["1"],
        "filename": ["css/app.css"],
    }


def _plain_path(rule, world) -> str:
    return PARAMETER.sub(lambda m: (world.get(m.group(2)) or ["1"])[0], rule.rule)


class _Recorder:
    """Notes the names a request looks up in its query string and form (ImmutableMultiDict)."""

    def __init__(self, monkeypatch):
        self.names: set[str] = set()
        recorder = self

        def recording(method):
            def look_up(mapping, key, *args, **kwargs):
                if isinstance(key, str) and has_request_context() and mapping in (request.args, request.form):
                    recorder.names.add(key)
                return method(mapping, key, *args, **kwargs)
            return look_up

        for method in ("get", "getlist", "__getitem__", "__contains__"):
            monkeypatch.setattr(ImmutableMultiDict, method, recording(getattr(ImmutableMultiDict, method)))


def _names_read(person, rule, method, world, recorder) -> list[str]:
    """What a plain request to the route reads (its form fields and query arguments)."""
    recorder.names.clear()
    _send(person, method, _plain_path(rule, world), [], list(PLAIN_FORM.items()), {}, encode=True)
    return sorted(recorder.names - {"csrf_token"})


def _send(person, method, path, query, form, headers, encode=False):
    """A request with the query and form pairs as given (already percent-encoded unless `encode`)."""
    def joined(pairs):
        return "&".join(f"{name}={quote(value, safe='') if encode else value}" for name, value in pairs)

    url = f"{path}?{joined(query)}" if query else path
    headers = {**headers, "X-CSRFToken": person.csrf_token}
    if method == "GET":
        return person.client.get(url, headers=headers)
    return person.client.post(url, data=joined(form).encode(), headers=headers,
                              content_type="application/x-www-form-urlencoded")


def _plain_pairs(names, crafted: dict[str, str]) -> list[tuple[str, str]]:
    """Each name with its crafted value, else a plain one (if it has one); percent-encoded."""
    pairs = [(name, crafted[name]) for name in crafted]
    pairs += [(name, quote(PLAIN_FORM[name], safe="")) for name in names if name not in crafted and name in PLAIN_FORM]
    return pairs


class _Errors(logging.Handler):
    """Keeps what the 500 handler logs, so a failure names the exception."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        error = record.exc_info[1] if record.exc_info else None
        self.records.append(f"{type(error).__name__}: {str(error).splitlines()[0]}" if error else record.getMessage())


@pytest.fixture
def walk(app, login_as, monkeypatch):
    """Every route and method but sign-out, with a signed-in person of `role`, their objects, and
    the names each route reads; `check(response)` records a 500 with the exception behind it."""

    def start(role: str):
        person = login_as(role)
        world = _world(person, make_user())
        recorder = _Recorder(monkeypatch)
        errors = _Errors()
        app.logger.addHandler(errors)
        routes = []
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if rule.endpoint not in SKIPPED_ENDPOINTS:
                    routes.append((rule, method, _names_read(person, rule, method, world, recorder)))
                    _stay_signed_in(person)
        return person, world, routes, errors

    yield start
    for handler in list(app.logger.handlers):
        if isinstance(handler, _Errors):
            app.logger.removeHandler(handler)


def _stay_signed_in(person):
    """A route may have ended the session (revoking it, for one): sign in again. Or it required two-factor
    sign-in of the walker's role (/admin/security), which shuts every page but enrolment: require it of none."""
    db.session.execute(update(RolePolicy).values(is_two_factor_required=False))
    db.session.commit()
    # /login sends a signed-in person home without drawing a page (after every route of the walk, a
    # page drawn here cost a fifth of the walk); any other answer is a session that ended or a gate.
    still_in = person.client.get("/login")
    if still_in.status_code not in (302, 303) or urlsplit(still_in.headers["Location"]).path != "/":
        log_in(person.client, person.user)
        person._token = None


@pytest.mark.postgres  # PostgreSQL refuses what SQLite takes (NUL in text, numbers past a column's type)
def test_every_field_of_every_route_takes_each_kind_of_crafted_value(walk):
    person, world, routes, errors = walk("admin")
    failures = set()
    for rule, method, names in routes:
        path = _plain_path(rule, world)
        for value in BATTERY:
            alone = [{name: value} for name in names] if value in NUMBER_LIKE and len(names) > 1 else []
            attempts = [dict.fromkeys(names, value)] + alone
            for crafted in attempts:
                errors.records.clear()
                # In the query string and in the form: a name is read from one or the other.
                response = _send(person, method, path, list(crafted.items()), _plain_pairs(names, crafted), {})
                if response.status_code == 500:
                    failures.add(f"{method} {rule.rule} {sorted(crafted)}={value[:40]}: {errors.records[-1:]}")
        _stay_signed_in(person)
    assert not failures, "\n".join(sorted(failures))


@pytest.mark.parametrize("role", ROLES)
def test_no_route_answers_500_to_made_up_input(walk, role):
    person, world, routes, errors = walk(role)
    ids = sorted({value for values in world.values() for value in values})
    values = crafted_values(ids)
    headers = st.sampled_from([{}, {"HX-Request": "true"}]) | st.builds(
        lambda target, event_id: {"HX-Request": "true", "HX-Target": target, "Last-Event-ID": event_id},
        st.sampled_from(HTMX_TARGETS), st.sampled_from(["", "1.1", quote("²"), HUGE_NUMBER, "a.b", "-1.-1"]))
    failures = []
    for rule, method, names in routes:
        try:
            _walk_route(person, rule, method, names, world, values, headers, errors)
        except Exception as error:  # noqa: BLE001 - every failing route is reported at once
            failures.append(f"{method} {rule.rule}: {error!s:.1500}")
        _stay_signed_in(person)
    assert not failures, "\n\n".join(failures)


def _walk_route(person, rule, method, names, world, values, headers, errors):
    """Hypothesis sends one route made-up values: in the names it reads (the others keep plain
    values), in a few names it may read on other paths, and in its path parameters."""
    parameters = {name: path_values(converter or "default", world, name)
                  for converter, name in PARAMETER.findall(rule.rule)}

    @settings(max_examples=5, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(path=st.fixed_dictionaries(parameters), headers=headers,
           crafted=st.dictionaries(st.sampled_from(names or ["page"]), values, min_size=1, max_size=3),
           extra=st.lists(st.tuples(st.sampled_from(EXTRA_NAMES), values), max_size=2))
    def no_500(path, headers, crafted, extra):
        errors.records.clear()
        url = PARAMETER.sub(lambda m: path[m.group(2)], rule.rule)
        query = list(crafted.items()) + extra
        response = _send(person, method, url, query, _plain_pairs(names, crafted) + extra, headers)
        assert response.status_code != 500, f"{url} {crafted} {extra}: {errors.records[-1:]}"

    no_500()
