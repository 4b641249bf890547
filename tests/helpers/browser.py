"""Browser helpers shared by the Playwright tests: signing in through the form, and what a person
checks on a screenshot (the main content shows, nothing spills out of its box)."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import PASSWORD

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# Elements whose text spills out of their box while their overflow is `visible`. Scrolling or
# clipping boxes (overflow auto/scroll/hidden/clip) and content meant to scroll sideways (code,
# tables, form fields) are left out: they overflow on purpose.
OVERFLOWING_TEXT_JS = """() => {
  const onPurpose = "pre, code, table, .table-wrap, textarea, input, select, option";
  const described = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    // Not visible: e.g. in a closed <details>.
    if (el.closest(onPurpose) || !el.checkVisibility({visibilityProperty: true})) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.display === "inline" || style.visibility === "hidden") continue;
    if (style.overflowX !== "visible") continue;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      found.push(`${described(el)} is ${el.scrollWidth}px wide in a ${el.clientWidth}px box: `
                 + (el.innerText || "").trim().slice(0, 60) + " | " + el.outerHTML.slice(0, 200));
    }
  }
  return found;
}"""


def sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Fill and send the sign-in form; does not wait for the answer (a test may expect a refusal)."""
    page.goto(f"{base_url}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def assert_fits_width(page) -> None:
    """The page does not scroll sideways."""
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar is drawn where the page is scrolled
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"page scrolls sideways by {overflow}px"


def assert_looks_right(page) -> None:
    """What a person checks on a screenshot: the main content is there, nothing spills sideways."""
    expect(page.get_by_role("main")).to_be_visible()
    assert_fits_width(page)
    overflowing = page.evaluate(OVERFLOWING_TEXT_JS)
    assert overflowing == [], "text overflows its box:\n" + "\n".join(overflowing[:10])
