"""`{{variables}}`: parsed leniently, refused when written with spaces, filled by plain substitution."""
from __future__ import annotations

import pytest

from app.prompts.variables import MAX_VARIABLES, Variable, VariableError, fill, parse_variables, segments


def test_names_are_found_in_order_of_first_use_and_asked_once():
    text = "Dear {{ name }}, about {{topic}}: thanks {{ name }}!"
    assert parse_variables(text) == [Variable("name"), Variable("topic")]


def test_a_default_is_written_after_an_equals_sign():
    assert parse_variables("Write in a {{ tone = warm and friendly }} tone") == [Variable("tone", "warm and friendly")]


def test_a_repeated_name_keeps_the_first_default_given():
    text = "{{ lang }} … {{ lang = French }} … {{ lang = German }}"
    assert parse_variables(text) == [Variable("lang", "French")]


@pytest.mark.parametrize("text", [
    "{{ name", "name }}", "{ name }", "{{}}", "{{ }}", "{{ 7*7 }}", "{{ ''.__class__.__mro__ }}",
    "{{ config.items() }}", "{% for x in y %}{{ x.y }}{% endfor %}", "{{ a == b }}", "{{ 1name }}",
    "{{ name\n}}", "{{{{ }}}}", "}} {{", "{{ <img src=x onerror=alert(1)> }}",
])
def test_anything_that_is_not_a_name_stays_literal(text):
    assert parse_variables(text) == []
    assert fill(text, {"name": "X", "x": "X", "a": "X"}) == text


def test_malformed_braces_around_a_real_variable_are_tolerated():
    text = "{{ broken and {{ real }} and }} and {{{ triple }}}"
    assert [v.name for v in parse_variables(text)] == ["real", "triple"]
    assert fill(text, {"real": "R", "triple": "T"}) == "{{ broken and R and }} and {T}"


@pytest.mark.parametrize("text", ["{{ first name }}", "Hi {{first name = Bob}}", "{{ the  topic }}"])
def test_names_with_spaces_are_refused_with_a_clear_message(text):
    with pytest.raises(VariableError, match="cannot contain spaces"):
        parse_variables(text)


def test_the_message_suggests_the_name_to_write():
    with pytest.raises(VariableError, match=r"\{\{ first_name \}\}"):
        parse_variables("{{ first name }}")


def test_too_long_names_defaults_and_too_many_variables_are_refused():
    with pytest.raises(VariableError, match="too long"):
        parse_variables("{{ " + "n" * 41 + " }}")
    with pytest.raises(VariableError, match="default"):
        parse_variables("{{ n = " + "d" * 201 + " }}")
    with pytest.raises(VariableError, match=f"at most {MAX_VARIABLES}"):
        parse_variables(" ".join(f"{{{{ v{i} }}}}" for i in range(MAX_VARIABLES + 1)))


def test_unicode_names_hyphens_and_underscores_are_names():
    assert [v.name for v in parse_variables("{{ café }} {{ due-date }} {{ _x2 }}")] == ["café", "due-date", "_x2"]


def test_filling_is_one_pass_so_values_are_never_expanded():
    text = "A {{ a }} and B {{ b }}"
    assert fill(text, {"a": "{{ b }}", "b": "{{ 7*7 }} {{ config }}"}) == "A {{ b }} and B {{ 7*7 }} {{ config }}"


def test_config_is_just_a_name_filled_with_what_the_person_typed():
    assert fill("Show {{ config }} and {{ 7*7 }}", {"config": "my settings"}) == "Show my settings and {{ 7*7 }}"


def test_values_with_regex_and_backslashes_are_inserted_verbatim():
    assert fill("x={{ v }}", {"v": r"\1 \g<0> $& \\n"}) == r"x=\1 \g<0> $& \\n"


def test_defaults_are_replaced_by_the_value_given():
    assert fill("{{ tone = warm }} / {{tone}}", {"tone": "dry"}) == "dry / dry"


def test_segments_cut_the_text_for_highlighting():
    pieces = segments("Hi {{ who }}, {{ 7*7 }}")
    assert [(p.text, p.variable) for p in pieces] == [("Hi ", None), ("{{ who }}", "who"), (", {{ 7*7 }}", None)]
