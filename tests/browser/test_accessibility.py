"""axe-core as a gate (issue 17): every page, light and dark, has no serious or critical violation.
axe.min.js is vendored for the tests only (tests/browser/vendor/, from `npm pack axe-core@4`); the
CSP forbids injected scripts, so this one browser context bypasses it."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.extensions import db
from app.folders.models import Folder
from app.projects import services as projects
from app.sharing import services as sharing
from tests.factories import make_conversation, make_user
from tests.helpers.browser import VIEWPORTS, sign_in
from tests.ideas.factories import make_idea
from tests.projects.helpers import make_project, validate
from tests.prompts.factories import make_prompt

pytestmark = pytest.mark.browser
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
SERIOUS = ("serious", "critical")
# GET routes without arguments that answer something other than a page, or only to htmx.
NOT_PAGES = {"core.healthz", "core.readyz", "admin.audit_csv", "admin.usage_csv", "chat.sidebar",
             "prompts.tag_options", "auth.two_factor_challenge", "approval.waiting",
             "auth.oidc_start", "auth.oidc_callback"}  # redirects to and from the single sign-on provider
# The colour rules: all that can differ between the light and the dark scheme (the same HTML, other colours).
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
RUN_AXE_JS = """async (rules) => {
  const options = {resultTypes: ['violations']};
  if (rules) options.runOnly = {type: 'rule', values: rules};
  const result = await axe.run(document, options);
  return result.violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v =>
    `${v.impact} ${v.id}: ${v.help} — `
    + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.html.slice(0, 160)).join(' | '));
}"""


def serious_violations(page, url: str, rules: list[str] | None = None) -> list[str]:
    """Load the page, run axe on it (every rule, or only `rules`); the serious and critical
    violations, described."""
    response = page.goto(url)
    assert response is not None and response.ok, f"{url} answered {response and response.status}"
    page.add_script_tag(content=AXE)
    return [f"{url}: {line}" for line in page.evaluate(RUN_AXE_JS, rules)]


def pages_of(app, live_server: str, admin) -> list[str]:
    """Every page a signed-in admin can open: routes without arguments, and one of each object."""
    urls = sorted(f"{live_server}{rule.rule}" for rule in app.url_map.iter_rules()
                  if "GET" in rule.methods and not rule.arguments and rule.endpoint not in NOT_PAGES
                  and not rule.rule.startswith(("/api", "/static", "/v1")) and rule.endpoint != "static")
    conversation = make_conversation(admin, messages=4, title="Axe conversation")
    folder = Folder(user_id=admin.id, name="Work", color="blue", icon="briefcase")
    db.session.add(folder)
    db.session.commit()
    share = sharing.create_share(admin, conversation, "never")
    db.session.commit()
    prompt = make_prompt(admin, title="Axe prompt")
    idea = make_idea(admin, title="Axe idea", notes=1)
    project = make_project(admin, {"config/broken.json": b'{"name": "axe",\n'}, name="Axe project")
    run = validate(admin, project)  # one finding, so the finding rows are checked too
    projects.create_checkpoint(admin, project.id, "Axe checkpoint")
    file_id = projects.files_page(project, 1)[0][0].id
    return urls + [f"{live_server}{path}" for path in (
        f"/chat/{conversation.id}", f"/chat/folders/{folder.id}", f"/s/{share.share_token}",
        f"/prompts/{prompt.id}", f"/prompts/{prompt.id}/edit", f"/prompts/{prompt.id}/use",
        f"/ideas/{idea.id}", f"/ideas/{idea.id}/edit", f"/admin/users/{admin.id}", "/admin/models/1",
        f"/projects/{project.id}", f"/projects/{project.id}/files/{file_id}",
        f"/projects/{project.id}/runs/{run.id}", f"/projects/{project.id}/findings")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violation_on_any_page(browser, app, live_server, scheme):
    """Every rule in the light scheme; in the dark one the colour rules, the only ones its colours can fail."""
    rules = COLOUR_RULES if scheme == "dark" else None
    admin = make_user(role="admin", display_name="Ada Admin")
    context = browser.new_context(viewport=VIEWPORTS["desktop"], color_scheme=scheme, bypass_csp=True)
    page = context.new_page()
    found = []
    for path in ("/login", "/register"):
        found += serious_violations(page, f"{live_server}{path}", rules)
    sign_in(page, live_server, admin.email)
    page.wait_for_url(lambda url: "/login" not in url)
    for url in pages_of(app, live_server, admin):
        if url.endswith(("/login", "/register")):
            continue
        found += serious_violations(page, url, rules)
    context.close()
    assert found == [], "axe found serious or critical violations:\n" + "\n".join(found)
