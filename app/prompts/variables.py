"""The `{{variables}}` of a prompt: parsed from its text and filled by plain string substitution.

Syntax (shown on the prompt form):
  {{ name }}            a variable the person fills in before using the prompt
  {{ name = default }}  the same, with a default value already filled in

A name starts with a letter or `_`, then letters, digits, `_` or `-` (at most 40 characters).
A name used several times is asked once and filled everywhere (the first default given wins).
Anything else between braces — `{{ 7*7 }}`, `{{ config.items() }}`, `{% if %}`, a lone `{{` — is
not a variable and stays in the text exactly as written. A name with spaces (`{{ first name }}`)
is refused when saving, since it is almost certainly a variable written by mistake.

The text is never rendered as a template (SSTI: `{{ config }}` must not reach Jinja): filling is
one pass of `re.sub`, so a value containing `{{ other }}` is inserted literally, not filled again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NAME_CHARS = 40
MAX_DEFAULT_CHARS = 200
MAX_VARIABLES = 20

# Every `{{ … }}` on one line without braces inside: a candidate, decided by what is between.
_CANDIDATE = re.compile(r"\{\{([^{}\n]*)\}\}")
_NAME = re.compile(rf"[^\W\d][\w-]{{0,{MAX_NAME_CHARS - 1}}}")
# Words separated by spaces: a name someone meant, written with spaces.
_SPACED_NAME = re.compile(r"[^\W\d][\w-]*(?:\s+[\w-]+)+")
# `=` starts a default; `==` is a comparison (Jinja), which stays literal.
_DEFAULT_SPLIT = re.compile(r"=(?!=)")


class VariableError(ValueError):
    """The text has something that looks like a variable but cannot be one."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None = None

    def as_json(self) -> dict:
        return {"name": self.name, "default": self.default}

    @classmethod
    def from_json(cls, data: dict) -> Variable:
        return cls(str(data.get("name", "")), data.get("default"))


@dataclass(frozen=True)
class Segment:
    """A piece of the text: literal, or a variable (for highlighting on the page)."""

    text: str
    variable: str | None = None


def _read(inner: str) -> tuple[str | None, str | None, str | None]:
    """(name, default, problem) of what is between the braces; no name means literal text."""
    parts = _DEFAULT_SPLIT.split(inner, maxsplit=1)
    name_part = parts[0].strip()
    default = parts[1].strip() if len(parts) == 2 else None
    if len(parts) == 2 and "=" in parts[0]:
        return None, None, None  # `{{ a == b = c }}`: not ours
    if _NAME.fullmatch(name_part):
        if default is not None and len(default) > MAX_DEFAULT_CHARS:
            return None, None, f"The default of “{name_part}” is too long: at most {MAX_DEFAULT_CHARS} characters."
        return name_part, default, None
    if _SPACED_NAME.fullmatch(name_part):
        suggestion = "_".join(name_part.split())
        return None, None, (f"Variable names cannot contain spaces: “{name_part}”. "
                            f"Write {{{{ {suggestion} }}}} instead.")
    if re.fullmatch(r"[^\W\d][\w-]*", name_part) and len(name_part) > MAX_NAME_CHARS:
        return None, None, f"The variable name “{name_part[:60]}” is too long: at most {MAX_NAME_CHARS} characters."
    return None, None, None


def parse_variables(text: str) -> list[Variable]:
    """The variables of `text` in order of first use, each once; raises VariableError on a bad one."""
    found: dict[str, Variable] = {}
    for match in _CANDIDATE.finditer(text or ""):
        name, default, problem = _read(match.group(1))
        if problem:
            raise VariableError(problem)
        if name is None:
            continue
        if name not in found or (found[name].default is None and default is not None):
            found[name] = Variable(name, default)
    if len(found) > MAX_VARIABLES:
        raise VariableError(f"A prompt has at most {MAX_VARIABLES} different variables; this one has {len(found)}.")
    return list(found.values())


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with each `{{ name }}` replaced by values[name], in one pass; the rest untouched."""

    def replace(match: re.Match) -> str:
        name, _default, _problem = _read(match.group(1))
        if name is None or name not in values:
            return match.group(0)
        return values[name]

    return _CANDIDATE.sub(replace, text or "")


def segments(text: str) -> list[Segment]:
    """The text cut into literal pieces and variables, so a template can highlight them (escaped)."""
    pieces: list[Segment] = []
    position = 0
    for match in _CANDIDATE.finditer(text or ""):
        name, _default, _problem = _read(match.group(1))
        if name is None:
            continue
        if match.start() > position:
            pieces.append(Segment(text[position:match.start()]))
        pieces.append(Segment(match.group(0), name))
        position = match.end()
    if position < len(text or ""):
        pieces.append(Segment(text[position:]))
    return pieces
