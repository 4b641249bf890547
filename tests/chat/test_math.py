"""Math in Markdown: $…$, $$…$$, \\(…\\) and \\[…\\] become MathML on the server; what cannot be read
shows as its source in code; prices stay prose; nothing in or around a formula can run or link."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.core import markdown as rendering
from app.core.markdown import render_markdown_safe
from tests.chat.test_rendering import problems_in
from tests.helpers.markup import elements_of, live_markup

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MATHML_PAYLOADS = [p for p in (FIXTURES / "mathml-xss-payloads.txt").read_text(encoding="utf-8").splitlines() if p]
LATEX_PAYLOADS = [p for p in (FIXTURES / "latex-xss-payloads.txt").read_text(encoding="utf-8").splitlines() if p]


def in_every_delimiter(tex: str) -> list[str]:
    """A formula written each way a person or a model writes math."""
    return [f"Inline ${tex}$ here", f"$$\n{tex}\n$$", f"Text \\({tex}\\) text", f"Text\n\\[{tex}\\]\nmore",
            f"Before $${tex}$$ after"]


def tags_of(html: str) -> list[str]:
    return [tag for tag, _attrs in elements_of(html)]


def test_inline_dollar_math_becomes_an_inline_math_element():
    out = render_markdown_safe("The area is $\\pi r^2$ exactly.")
    assert '<math display="inline">' in out
    assert "<mi>π</mi>" in out and "<msup>" in out
    assert out.startswith("<p>The area is <math") and "exactly.</p>" in out


def test_display_dollar_math_becomes_a_block_math_element():
    out = render_markdown_safe("Euler:\n\n$$\ne^{i\\pi} + 1 = 0\n$$\n\nDone.")
    assert '<div class="math-display"><math display="block">' in out
    assert "<msup><mi>e</mi>" in out


@pytest.mark.parametrize("text, display", [
    ("so \\(\\frac{a}{b}\\) holds", "inline"),
    ("\\[\n\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}\n\\]", "block"),
    # Models often put \[ on the line right after a sentence, inside the paragraph.
    ("The formula is\n\\[ E = mc^2 \\]\nwhere c is the speed of light.", "block"),
    ("Before $$\\int_0^1 x\\,dx$$ after", "block"),
])
def test_bracket_and_inline_display_delimiters_become_math(text, display):
    out = render_markdown_safe(text)
    assert f'<math display="{display}">' in out
    assert "\\(" not in out and "\\[" not in out and "$$" not in out


def test_a_wide_range_of_latex_becomes_mathml():
    formulas = [
        r"\sqrt[3]{x}", r"\int_0^\infty e^{-x^2}\,dx", r"\begin{pmatrix}a&b\\c&d\end{pmatrix}",
        r"\hat{x}+\vec{v}", r"\alpha\beta\Gamma", r"x_i^2", r"\text{if } x>0", r"\mathbb{R}",
        r"\left( \frac{a}{b} \right)", r"\begin{aligned} a &= b \\ c &= d \end{aligned}",
        r"\begin{cases} x & x>0 \\ -x & x\le 0 \end{cases}", r"\binom{n}{k}", r"\overbrace{a+b}^{n}",
    ]
    for tex in formulas:
        out = render_markdown_safe(f"$${tex}$$")
        assert "<math " in out and "math-error" not in out, tex
        assert problems_in(out) == [], tex


@pytest.mark.parametrize("tex", [r"x^", r"\begin{matrix} a", r"\sqrt[", r"a \over", r"\frac{1}{\left( 2}"])
def test_a_malformed_formula_shows_its_source_as_code(tex):
    out = render_markdown_safe(f"See ${tex}$ here")
    assert "<math" not in out
    assert '<code class="math-error">$' in out
    assert problems_in(out) == []


def test_a_malformed_display_formula_shows_its_source_as_code():
    out = render_markdown_safe("$$\n\\begin{matrix} a &\n$$")
    assert '<div class="math-display"><code class="math-error">$$\n\\begin{matrix} a &amp;\n$$</code></div>' in out


@pytest.mark.parametrize("text", [
    "It costs $5 and $10 with tax.",
    "Between $5-$10, or $5/$10 per month.",
    "I paid $5 for it and $3.50 for that.",
    "US$5 and US$6",
    "Prices: $ 5 and $ 10",
    "A $20 bill and a $ sign",
    "Escaped \\$x\\$ stays text",
])
def test_dollar_amounts_in_prose_stay_text(text):
    out = render_markdown_safe(text)
    assert "<math" not in out and "math-error" not in out


def test_dollars_inside_code_stay_code():
    out = render_markdown_safe("`$x$` and\n\n```sh\necho $HOME $PATH\n```")
    assert "<math" not in out
    assert "<code>$x$</code>" in out


def test_formulas_never_link_paint_or_shift_the_page():
    out = render_markdown_safe(
        "$\\href{https://evil.example}{x}$ $\\color{red}{y}$ $\\colorbox{red}{z}$ "
        "$\\hspace{-999em}a$ $\\rule{900em}{900em}$")
    assert "href" not in out and "evil.example" not in out
    assert "mathcolor" not in out and "mathbackground" not in out
    assert "999em" not in out and "900em" not in out
    assert problems_in(out) == []


def test_text_inside_a_formula_stays_text():
    out = render_markdown_safe("$\\text{<img src=x onerror=alert(1)>}$")
    assert "<mtext>&lt;img" in out
    assert "<img" not in out


def test_macro_definitions_are_shown_as_source():
    out = render_markdown_safe("$\\newcommand{\\a}{xx}\\a$")
    assert '<code class="math-error">' in out and "<math" not in out


def test_a_formula_too_long_to_convert_is_shown_as_source():
    tex = "a+" * rendering.MAX_FORMULA_CHARS
    out = render_markdown_safe(f"$${tex}b$$")
    assert "<math" not in out and "math-error" in out


def test_once_the_budget_is_spent_formulas_show_as_source(monkeypatch):
    monkeypatch.setattr(rendering, "RENDER_BUDGET_SECONDS", -1.0)
    out = render_markdown_safe("$$\nx^2\n$$")
    assert "<math" not in out
    assert "x^2" in out


def test_an_unclosed_bracket_delimiter_leaves_the_text_as_it_was():
    assert render_markdown_safe("\\(a and \\[b") == "<p>(a and [b</p>\n"


@pytest.mark.parametrize("tex", LATEX_PAYLOADS)
def test_latex_payloads_render_inert_in_every_delimiter(tex):
    for text in in_every_delimiter(tex):
        out = render_markdown_safe(text)
        assert problems_in(out) == [], (text, out)


@pytest.mark.parametrize("payload", MATHML_PAYLOADS)
def test_mathml_payloads_typed_as_text_stay_text(payload):
    for text in [payload, f"${payload}$", f"$$\n{payload}\n$$", f"\\[{payload}\\]"]:
        out = render_markdown_safe(text)
        assert problems_in(out) == [], (text, out)
        assert "maction" not in tags_of(out) and "annotation-xml" not in tags_of(out)


@pytest.mark.parametrize("payload", MATHML_PAYLOADS)
def test_the_sanitiser_alone_makes_mathml_payloads_inert(payload):
    """As if the Markdown step had passed the payload through as HTML: nh3 (the last step) cleans it."""
    out = rendering._CLEANER.clean(payload)
    assert problems_in(out) == [], out
    assert live_markup(out) == []
    elements = elements_of(out)
    assert not {tag for tag, _ in elements} & {"maction", "annotation", "annotation-xml", "semantics", "mglyph",
                                               "malignmark", "img", "script", "iframe", "svg", "form"}, out
    assert not {name for _, attrs in elements for name, _ in attrs} & {
        "href", "xlink:href", "style", "mathcolor", "mathbackground", "onerror", "onclick", "onmouseover",
        "id", "class", "data-hx-post", "hx-get", "src"}, out


def test_the_renderer_version_changed_with_math():
    assert rendering.RENDERER_VERSION >= 2
