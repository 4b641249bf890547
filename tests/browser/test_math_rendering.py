"""Math in Chromium: formulas rendered on the server are real MathML that the browser draws under
the app's CSP, and every XSS payload, MathML ones included, stays inert once rendered."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.chat.models import Message
from app.core import markdown as rendering
from app.core.markdown import render_markdown_safe
from app.extensions import db
from tests.factories import make_conversation, make_user
from tests.shared_testdata import shared_file

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).resolve().parents[1] / "chat" / "fixtures"
MATHML_NAMESPACE = "http://www.w3.org/1998/Math/MathML"
SCREENSHOTS = Path(os.environ.get("STUDIO_SCREENSHOTS", "/tmp/studio-screenshots"))

ANSWER = """The area of a circle is $\\pi r^2$, and \\(e^{i\\pi} + 1 = 0\\) links five constants.

$$
\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}
$$

The quadratic formula:
\\[ x = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a} \\]
so a matrix $\\begin{pmatrix}a & b \\\\ c & d\\end{pmatrix}$ works inline too.

$$
WIDE_SERIES
$$

Broken: $x^$ stays as code. Prices stay prose: $5 and $10.""".replace(
    "WIDE_SERIES", "\\sum_{n=1}^{\\infty} \\frac{1}{n^2} = \\frac{\\pi^2}{6} = 1"
    + "".join(f" + \\frac{{1}}{{{n * n}}}" for n in range(2, 16)) + " + \\cdots")

# Set when any payload gets to run script; a dialog is recorded as well.
TRAP = """
window.__xss = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = (...args) => { window.__xss.push(name + "(" + args.join(",") + ")"); };
}
"""

# What is live in the rendered DOM: script, handlers, javascript: links, MathML that links or holds HTML.
LIVE_DOM_JS = """() => {
  const found = [];
  for (const el of document.querySelectorAll("#payloads .message-body *")) {
    const tag = el.localName;
    if (["script", "iframe", "object", "embed", "img", "svg", "style", "form", "maction", "annotation-xml",
         "semantics", "mglyph"].includes(tag)) found.push("<" + tag + ">");
    for (const attr of el.attributes) {
      const value = attr.value.replace(/[\\x00-\\x20]/g, "").toLowerCase();
      if (attr.name.startsWith("on") || attr.name === "style" || attr.name.startsWith("hx-")
          || attr.name.startsWith("data-") || attr.name.includes("href") && tag !== "a"
          || /^(javascript|data|vbscript):/.test(value)) {
        found.push("<" + tag + " " + attr.name + "=" + attr.value.slice(0, 60) + ">");
      }
    }
  }
  return found;
}"""


def payloads() -> list[str]:
    """The shared 362-payload list, the project's own, and the MathML and LaTeX ones."""
    lines = []
    for path in (shared_file("xss-payloads.txt"), FIXTURES / "xss-payloads.txt",
                 FIXTURES / "mathml-xss-payloads.txt", FIXTURES / "latex-xss-payloads.txt"):
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    return lines


def rendered_page(texts: list[str]) -> str:
    """Every payload rendered as the server would show it, plus the raw payload through the
    sanitiser alone (as if the Markdown step had let it through)."""
    parts = []
    for payload in texts:
        first_line = payload.splitlines()[0]
        for text in (payload, f"${first_line}$", f"$$\n{payload}\n$$", f"\\[{first_line}\\]",
                     f"Text \\({first_line}\\) text"):
            parts.append(f'<div class="message-body" hx-disable>{render_markdown_safe(text)}</div>')
        parts.append(f'<div class="message-body" hx-disable>{rendering._CLEANER.clean(payload)}</div>')
    return ('<!doctype html><html><head><meta charset="utf-8"><title>payloads</title></head>'
            f'<body><main id="payloads">{"".join(parts)}</main></body></html>')


def test_the_xss_corpus_and_mathml_payloads_render_inert_in_chromium(browser):
    """No CSP here: the sanitiser alone must keep every payload from running, loading or linking."""
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(TRAP)
    dialogs, outside_requests = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: outside_requests.append(request.url)
            if not request.url.startswith("http://studio.test/") else None)
    body = rendered_page(payloads())
    page.route("http://studio.test/**", lambda route: route.fulfill(status=200, body=body,
                                                                    content_type="text/html; charset=utf-8"))
    page.goto("http://studio.test/payloads")
    page.wait_for_load_state("load")
    page.mouse.move(200, 200)

    assert page.evaluate("window.__xss") == []
    assert dialogs == []
    assert outside_requests == []
    assert page.evaluate(LIVE_DOM_JS) == []
    assert page.evaluate("document.querySelectorAll('#payloads math').length") > 100
    assert page.evaluate(f"""[...document.querySelectorAll('#payloads math')]
                             .every(el => el.namespaceURI === '{MATHML_NAMESPACE}')""")
    context.close()


def test_math_in_an_answer_is_drawn_as_mathml_under_the_apps_csp(signed_in_page, live_server):
    user = make_user()
    conversation = make_conversation(user, title="Circles and series", messages=2)

    message = db.session.scalars(db.select(Message).where(Message.conversation_id == conversation.id,
                                                          Message.role == "assistant")).one()
    message.content, message.content_html = ANSWER, render_markdown_safe(ANSWER)
    db.session.commit()

    page = signed_in_page(user=user)
    violations = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    response = page.goto(f"{live_server}/chat/{conversation.id}")
    assert "script-src" in response.headers.get("content-security-policy", "")

    body = page.locator(".message-assistant .message-body").last
    expect(body.locator("math").first).to_be_visible()
    assert body.locator('math[display="inline"]').count() == 3
    assert body.locator('math[display="block"]').count() == 3
    assert page.evaluate(f"""[...document.querySelectorAll('.message-body math')]
                             .every(el => el.namespaceURI === '{MATHML_NAMESPACE}')""")
    # Chromium lays MathML out itself: a fraction is taller than one line of text.
    fraction = body.locator("mfrac").first.bounding_box()
    assert fraction["height"] > 20
    expect(body.locator("code.math-error")).to_have_text("$x^$")
    expect(body).to_contain_text("Prices stay prose: $5 and $10.")
    # A wide display formula scrolls inside its box instead of widening the page.
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
    assert violations == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    body.screenshot(path=str(SCREENSHOTS / "math-answer-desktop.png"))
    phone = signed_in_page(user=user, viewport="phone")
    phone.goto(f"{live_server}/chat/{conversation.id}")
    phone_body = phone.locator(".message-assistant .message-body").last
    expect(phone_body.locator("math").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
    phone_body.screenshot(path=str(SCREENSHOTS / "math-answer-phone.png"))
