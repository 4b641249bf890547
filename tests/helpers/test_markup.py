"""The live-markup checker flags what would run, load or drive htmx, and passes Studio's own page
shell and escaped text: a checker that passed everything would make every "inert" test vacuous."""
from __future__ import annotations

import pytest

from tests.helpers.markup import Allowlist, live_markup

LIVE = [
    "<script>alert(1)</script>",
    '<script src="https://evil.example/x.js"></script>',
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" jav&#x09;ascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<iframe src="//evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<div hx-get="/account" hx-trigger="load">x</div>',
    '<span data-hx-post="/logout">x</span>',
    '<b hx-on:click="alert(1)">x</b>',
    '<p style="position:fixed;inset:0">Session expired</p>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<form action="data:text/html,x"><button>Go</button></form>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math><maction actiontype="statusline"><mi>x</mi><mtext>y</mtext></maction></math>',
    '<math><mrow href="https://evil.example"><mi>x</mi></mrow></math>',
    '<math><annotation-xml encoding="text/html"><p>x</p></annotation-xml></math>',
]


@pytest.mark.parametrize("html", LIVE)
def test_live_markup_is_flagged(html):
    assert live_markup(html)


def test_the_page_shell_and_escaped_text_pass():
    page = """<!doctype html><html><head><link rel="stylesheet" href="/static/css/app.css">
      <script src="/static/vendor/htmx-2.0.11.min.js" defer></script></head>
      <body hx-headers='{"X-CSRFToken": "t"}'><main>
      <form method="post" action="/prompts/new" hx-post="/prompts/new" hx-trigger="submit, change">
      <input name="q" hx-get="/chat/search" hx-trigger="input changed delay:300ms, search"></form>
      <div hx-get="/chat/sidebar" hx-trigger="intersect once">more</div>
      <p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt; onerror=alert(2)</p>
      <a href="https://example.com" rel="nofollow noopener">a link</a> <a href="/chat">chat</a>
      <math display="block"><mfrac><mi>a</mi><mn>2</mn></mfrac></math>
      </main></body></html>"""
    assert live_markup(page) == []


def test_an_allowlist_also_refuses_what_it_does_not_list():
    allowed = Allowlist(tags=frozenset({"a", "p", "span"}), attributes={"a": {"href"}, "span": {"class"}},
                        classes={"span": {"k"}})
    assert live_markup('<p><a href="https://example.com">x</a> <span class="k">y</span></p>', allowed) == []
    assert live_markup('<div>x</div>', allowed)
    assert live_markup('<a href="/relative">x</a>', allowed)
    assert live_markup('<a href="https://example.com" id="x">x</a>', allowed)
    assert live_markup('<span class="k evil">x</span>', allowed)
    assert live_markup('<div hx-get="/x">x</div>', allowed)
