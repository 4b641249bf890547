"""One answer to "is this markup live?": everything in some HTML that a browser would run or load,
or htmx would act on, beyond what Studio's own templates put there. Used on whole pages (after
user or model text was shown) and, with an allowlist, on sanitised Markdown fragments."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that load, embed or run something; Studio's templates use none of them.
LOADING_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "svg", "object", "embed", "applet",
    "portal", "img", "image", "video", "audio", "source", "picture", "base", "template",
}
# MathML is how rendered formulas are drawn; these of its elements link, switch content, load an
# image or hold HTML, and rendered math never needs them.
LIVE_MATHML_TAGS = {"maction", "annotation-xml", "mglyph", "semantics"}
URL_ATTRIBUTES = {
    "href", "src", "srcset", "action", "formaction", "xlink:href", "background", "poster", "data",
    "codebase", "cite", "ping", "lowsrc", "dynsrc",
}
DANGEROUS_SCHEME = re.compile(r"^(javascript|data|vbscript|file):", re.IGNORECASE)
SAFE_URL = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)
INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]")
OWN_ASSET = re.compile(r"^/static/[\w./-]+$")  # the app's scripts and stylesheets


@dataclass(frozen=True)
class Allowlist:
    """For a fragment that may hold only these tags, attributes (per tag) and classes (per tag);
    links must then be absolute http(s) or mailto, and no element may carry an id or data-*."""

    tags: frozenset[str]
    attributes: dict[str, set[str]] = field(default_factory=dict)
    classes: dict[str, set[str]] = field(default_factory=dict)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag.lower(), [(name.lower(), value or "") for name, value in attrs]))

    handle_startendtag = handle_starttag


def elements_of(html: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every start tag with its attributes (values entity-decoded, as a browser reads them)."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.elements


def _own_asset(tag: str, attrs: dict[str, str]) -> bool:
    if tag == "script":
        return bool(OWN_ASSET.match(attrs.get("src", "")))
    if tag == "link":
        return bool(OWN_ASSET.match(attrs.get("href", "")))
    return False


def live_markup(html: str, allowed: Allowlist | None = None) -> list[str]:
    """The live parts of `html`, described; [] when it is inert."""
    found = []
    for tag, attr_list in elements_of(html):
        attrs = dict(attr_list)
        if tag in LOADING_TAGS and not _own_asset(tag, attrs):
            found.append(f"<{tag}> element")
        if tag in LIVE_MATHML_TAGS:
            found.append(f"<{tag}> MathML element")
        if tag == "link" and not _own_asset(tag, attrs):
            found.append("<link> to something not the app's own")
        if tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh":
            found.append("<meta http-equiv=refresh>")
        for name, value in attr_list:
            if name.startswith("on"):
                found.append(f"event handler {name}= on <{tag}>")
            if name == "style":
                found.append(f"style= on <{tag}>")
            if name.startswith(("data-hx-", "data-sse-", "hx-on")):
                found.append(f"htmx attribute {name}= on <{tag}>")
            if name == "hx-trigger" and re.search(r"\bload\b", value):
                found.append(f"hx-trigger={value!r} on <{tag}> fires by itself")
            if name in URL_ATTRIBUTES and DANGEROUS_SCHEME.match(INVISIBLE.sub("", value)):
                found.append(f"{name}={value!r} on <{tag}>")
            elif name in {"href", "xlink:href"} and tag not in {"a", "link"}:
                found.append(f"{name}= link on <{tag}>")
        if allowed is not None:
            found += _outside(allowed, tag, attr_list)
    return found


def _outside(allowed: Allowlist, tag: str, attr_list: list[tuple[str, str]]) -> list[str]:
    found = []
    if tag not in allowed.tags:
        found.append(f"<{tag}> is not an allowed tag")
    for name, value in attr_list:
        if name.startswith(("hx-", "sse-")):
            found.append(f"htmx attribute {name}= on <{tag}>")
        if name.startswith("data-") or name in {"id", "target", "srcdoc"}:
            found.append(f"{name}= on <{tag}>")
        if name not in allowed.attributes.get(tag, set()):
            found.append(f"{name}= is not allowed on <{tag}>")
        if name in URL_ATTRIBUTES and not SAFE_URL.match(INVISIBLE.sub("", value)):
            found.append(f"URL {name}={value!r} on <{tag}> is not absolute http(s) or mailto")
        if name == "class":
            extra = set(value.split()) - allowed.classes.get(tag, set())
            if extra:
                found.append(f"class {sorted(extra)} on <{tag}>")
    return found
