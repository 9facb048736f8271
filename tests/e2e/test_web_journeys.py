"""Every journey of the web pages, in a real browser, against a real `den serve` on the real
Docker engine: Playwright drives Debian's chromium (installed by `scripts/bootstrap test`).

On every page a person reaches, axe-core (from npm, web/node_modules) checks WCAG 2.2 AA with
no violation allowed, the page must not scroll sideways (WCAG 1.4.10 reflow: each journey at a
desktop width, and one walk through every page at 320 CSS pixels), and the page must have run
under its Content-Security-Policy with no violation (GOV.UK's inline script allowed by its
hash, so the body is marked `govuk-frontend-supported`). A trial launched from the pages
really starts, its link answers, it is ended from the page and nothing of it is left in the
engine. The run writes the docs' screenshots (docs/screenshots/*.png). Never skipped in CI:
a missing chromium or axe-core fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.routing import APIRoute

from tests.conftest import require
from tests.e2e.engine import leftovers, remove_instance
from tests.e2e.server import ROOT, Server
from tests.ocds_validation import validate
from tests.service.plain_words import assert_plain
from web.routes import MODULES

pytestmark = pytest.mark.docker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
SCREENSHOTS = ROOT / "docs" / "screenshots"
PEOPLE = {
    "alice": ("civil_servant", "dwp", ""),
    "sam": ("supplier", "", "civic-insight"),
    "nia": ("supplier", "", "northwind-digital"),
    "ann": ("approver", "", ""),
    "pat": ("platform_engineer", "", ""),
    "carol": ("civil_servant", "hmrc", ""),
}
NARROW = {"width": 320, "height": 640}  # WCAG 1.4.10: content reflows at 320 CSS pixels
#: Every page route checked by axe in this module (test_every_page_was_checked_by_axe).
CHECKED: set[str] = set()
#: Every page route checked, at 320 CSS pixels wide, for sideways scrolling.
REFLOWED: set[str] = set()
#: The elements (a CSS path each) that reach past the right edge of the window, outside any
#: area that scrolls on its own (a wide table's focusable region).
OVERFLOWING = """() => {
  const width = window.innerWidth;
  const path = (e) => {
    const parts = [];
    for (let n = e; n && n.nodeType === 1 && parts.length < 4; n = n.parentElement) {
      parts.unshift(n.tagName.toLowerCase() + (n.id ? '#' + n.id : '')
        + [...n.classList].slice(0, 2).map(c => '.' + c).join(''));
      if (n.id) break;
    }
    return parts.join(' > ');
  };
  const scrollsOnItsOwn = (e) => {
    for (let n = e.parentElement; n && n !== document.body; n = n.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(n).overflowX)) return true;
    }
    return false;
  };
  const reach = (e) => {  // the box's right edge, or its content's when that spills out
    const box = e.getBoundingClientRect();
    return getComputedStyle(e).overflowX === 'visible'
      ? Math.max(box.right, box.left + e.scrollWidth) : box.right;
  };
  const wide = [...document.body.querySelectorAll('*')].filter(
    e => reach(e) > width + 0.5 && !scrollsOnItsOwn(e));
  return wide.filter(e => !wide.some(o => o !== e && e.contains(o))).slice(0, 5).map(
    e => path(e) + ' (reaches ' + Math.round(reach(e)) + 'px)');
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine_client: Any) -> Iterator[Server]:
    """One server for the module; requests over an hour wait for an approver. Its public URL
    is set, so a sandbox origin sends visitors back to this den (not to `localhost`)."""
    # Ended trials count against the per-person cap until their sandboxes are gone: raised so
    # that no journey waits on the teardown of an earlier one.
    running = Server(
        data_dir=tmp_path_factory.mktemp("web"),
        env={"DEN_SELF_SERVICE_MAX_DURATION": "3600", "DEN_MAX_ACTIVE_TRIALS_PER_USER": "50"},
    )
    running.env["DEN_PUBLIC_URL"] = running.url
    running.start()
    for name, (role, department, supplier) in PEOPLE.items():
        made = running.call(
            "POST",
            "/api/v1/users",
            json={"name": name, "role": role, "department": department, "supplier": supplier},
        )
        assert made.status_code == 201, made.text
    yield running
    running.stop()
    remove_instance(engine_client, running.instance)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    require(CHROMIUM.exists(), "Debian's chromium (scripts/bootstrap test installs it)")
    require(AXE.exists(), "axe-core in web/node_modules (scripts/bootstrap test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def token_for(server: Server, name: str) -> dict[str, str]:
    answer = server.call("POST", f"/api/v1/users/{name}/tokens", json={"name": "e2e"})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


@dataclass
class Person:
    """One person's browser: every page it reaches is checked (axe, CSP, GOV.UK's script)."""

    server: Server
    page: Any
    javascript: bool = True
    #: A civil servant: no page may use the runtime's words (tests/service/plain_words.py).
    plain: bool = False
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.problems.append(f"CSP: {message.text}")

    def go(self, path: str) -> Person:
        self.page.goto(self.server.url + path)
        return self.check()

    def click(self, selector: str) -> Person:
        """Click something that leads to another page (a link or a form's button)."""
        with self.page.expect_navigation():
            self.page.click(selector)
        return self.check()

    def check(self) -> Person:
        page = self.page
        page.wait_for_load_state("load")
        if self.javascript:
            assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')"), (
                "GOV.UK's inline script did not run: is its hash in the CSP?"
            )
        found = axe(page) if self.javascript else self._axe_without_scripts()
        assert found == [], f"axe on {page.url}: {found}"
        assert self.problems == [], self.problems
        if self.plain:
            assert_plain(page.content())
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > page.evaluate("window.innerWidth"):
            raise AssertionError(
                f"{page.url} scrolls sideways ({width} CSS px wide): {page.evaluate(OVERFLOWING)}"
            )
        path = page.url.removeprefix(self.server.url).split("?")[0].split("#")[0]
        routes = {route.path for route in page_routes() if route.path_regex.match(path)}
        CHECKED.update(routes)
        if page.viewport_size["width"] <= NARROW["width"]:
            REFLOWED.update(routes)
        return self

    def _axe_without_scripts(self) -> list[Any]:
        """axe needs timers, which a browser without JavaScript never runs: check the same
        page, as this browser shows it, in a browser that runs only axe (the page's own
        scripts are taken out)."""
        html = re.sub(r"<script\b.*?</script>", "", self.page.content(), flags=re.S)
        checker = self.page.context.browser.new_context(viewport={"width": 1024, "height": 768})
        try:
            page = checker.new_page()
            page.route(
                self.page.url,
                lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html),
            )
            page.goto(self.page.url)
            return axe(page)
        finally:
            checker.close()

    def shot(self, name: str) -> None:
        """The page from its top, at most 1,400 pixels of it (documentation, kept small)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        height = min(int(self.page.evaluate("document.documentElement.scrollHeight")), 1400)
        self.page.screenshot(
            path=str(SCREENSHOTS / f"{name}.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1024, "height": height},
        )

    def text(self, selector: str = "main") -> str:
        return str(self.page.inner_text(selector))


def axe(page: Any) -> list[Any]:
    """axe-core's WCAG 2.2 AA violations on the page (injected through the browser's debugging
    protocol, which the page's Content-Security-Policy does not apply to)."""
    page.evaluate(AXE.read_text())
    found: list[Any] = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => ({id: v.id, help: v.help, "
        "nodes: v.nodes.map(n => n.target.join(' '))})))",
        WCAG,
    )
    return found


def person(
    chromium: Any,
    server: Server,
    name: str | None,
    *,
    javascript: bool = True,
    viewport: dict[str, int] | None = None,
) -> Person:
    """A fresh browser (its own cookies), 1024 pixels wide unless `viewport` says otherwise;
    signed in through the development sign-in."""
    context = chromium.new_context(
        viewport=viewport or {"width": 1024, "height": 768}, java_script_enabled=javascript
    )
    visitor = Person(server=server, page=context.new_page(), javascript=javascript)
    if name is not None:
        visitor.go("/sign-in")
        visitor.page.check(f"input[name='user'][value='{name}']")
        visitor.click("button:has-text('Sign in')")
    return visitor


def page_routes() -> list[APIRoute]:
    return [
        route
        for module in MODULES
        for route in module.router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ()) and not route.path.endswith(".json")
    ]


def continue_to_sandbox(page: Any, origin_url: str, timeout: float = 30_000) -> None:
    """Pass the den's hand-over page: Continue, then the sandbox's own origin."""
    page.click("button:has-text('Continue')")
    page.wait_for_url(origin_url + "**", timeout=timeout)
    page.wait_for_load_state("load")


def continue_with(alice: Person, **fields: str) -> None:
    for selector, value in fields.items():
        alice.page.fill(f"#{selector}", value)
    alice.click("button:has-text('Continue')")


# --- the journeys ---------------------------------------------------------------------------


def test_the_public_pages(chromium: Any, server: Server) -> None:
    visitor = person(chromium, server, None)
    visitor.go("/")
    visitor.shot("start")
    assert "Try technology safely" in visitor.text()
    visitor.click("text=Sign in >> nth=-1")  # the start button
    assert "Development sign-in" in visitor.text()
    visitor.shot("sign-in")
    visitor.go("/accessibility").go("/cookies").go("/signed-out")
    tell_us_about_a_problem(visitor, came_from="/signed-out")
    assert visitor.page.goto(server.url + "/no-such-page").status == 404
    visitor.check()
    assert "Page not found" in visitor.text()
    visitor.go("/techmap")  # signed out: sent to sign in, and back afterwards
    assert visitor.page.url.endswith("/sign-in?next=/techmap")


def test_a_civil_servant_launches_opens_extends_ends_and_evaluates_a_trial(
    chromium: Any, server: Server, engine_client: Any
) -> None:
    alice = person(chromium, server, "alice")
    alice.plain = True
    assert "You have no trials running" in alice.text()
    alice.go("/techmap")
    alice.shot("techmap")
    alice.page.fill("#q", "air quality")
    alice.click("button:has-text('Apply filters')")
    assert "1 template found" in alice.text()
    alice.click("text=Open data dashboard >> nth=0")
    alice.shot("template")
    alice.click("text=Start a trial")
    alice.click("button:has-text('Continue')")  # nothing typed: the error summary
    summary = alice.page.locator(".govuk-error-summary")
    assert summary.is_visible() and summary.evaluate("e => e === document.activeElement")
    alice.shot("question-with-error")
    alice.page.click(".govuk-error-summary a")  # the link leads to the field (no new page)
    assert alice.page.evaluate("document.activeElement.id") == "title"
    continue_with(alice, title="Can residents read air quality data without help?")
    continue_with(alice, problem="Residents phone us to ask whether the air is safe today.")
    continue_with(alice, hypothesis="Residents find their borough's reading in under a minute.")
    alice.page.check("input[name='criteria'] >> nth=0")
    continue_with(alice)
    alice.page.check("input[name='duration'][value='900']")
    continue_with(alice)
    alice.page.check("input[name='shared'][value='yes']")
    continue_with(alice)
    assert "15 minutes" in alice.text() and "Check your answers" in alice.text()
    alice.shot("check-answers")
    alice.click("#start-trial")
    assert "Your trial has been requested" in alice.text()
    alice.shot("confirmation")
    trial_id = re.findall(r"/trials/(t[0-9a-f]+)", alice.page.url)[0]

    alice.click("text=Follow your trial")
    alice.page.evaluate("window.notReloaded = true")
    link = alice.page.locator("text=Open the open data dashboard")
    already_ready = link.count() > 0
    link.wait_for(timeout=90_000)  # swapped in by the live progress, with no reload
    assert alice.page.evaluate("window.notReloaded") is True
    if not already_ready:
        assert "Ready" in alice.page.inner_text("#trial-announcer")  # and announced
    alice.check()
    before = alice.page.inner_text(".den-countdown__left")
    alice.page.wait_for_timeout(2200)
    assert alice.page.inner_text(".den-countdown__left") != before  # it counts down
    alice.shot("trial")

    sandbox = f"http://{trial_id}-web.sandbox.localhost:{server.port}/"
    alice.click("text=Open the open data dashboard")  # the den's hand-over page first
    assert "Do not enter real personal data" in alice.text()
    continue_to_sandbox(alice.page, sandbox)  # the supplier's page: not ours to check with axe
    assert "Air quality by borough" in alice.page.content()
    alice.go(f"/trials/{trial_id}")

    alice.page.check("input[name='extend-by'][value='600']")
    alice.click("button:has-text('Extend the trial')")
    assert "The trial has been extended: it now ends at" in alice.text()
    assert "Extensions used: 1 of 2" in alice.text()

    alice.click("text=End the trial now")
    assert "Are you sure you want to end this trial now?" in alice.text()
    alice.click("button:has-text('End the trial')")
    alice.page.locator(".den-status .govuk-tag", has_text="Ended").wait_for(timeout=60_000)
    alice.check()
    assert leftovers(engine_client, trial_id) == []
    alice.page.goto(sandbox)  # its address is dead: the den's page says so
    assert "Page not found" in alice.text() and "Air quality" not in alice.page.content()
    alice.go(f"/trials/{trial_id}")

    alice.click("text=Record the evaluation")
    alice.shot("evaluation")  # the task list, with what the service measured beside it
    alice.click("text=Your trial's question")
    alice.click("button:has-text('Save and continue')")
    assert "Select whether the hypothesis held" in alice.text()
    alice.page.check("input[name='hypothesis-held'][value='partly']")
    alice.page.fill("#hypothesis-evidence", "Most residents read it; some needed help.")
    alice.click("button:has-text('Save and come back later')")  # a draft, kept
    assert "Your answers have been saved" in alice.text() and "In progress" in alice.text()
    alice.click("text=Your trial's question")
    criteria = alice.page.locator("textarea[name^='criterion-']")
    for index in range(criteria.count()):
        alice.page.check(f"input[name='criterion-{index}-met'][value='yes']")
        alice.page.fill(f"#criterion-{index}-evidence", f"Seen in session {index + 1}")
    alice.click("button:has-text('Save and continue')")
    alice.shot("evaluation-scores")
    for index, dimension in enumerate(
        (
            "user_need",
            "accessibility",
            "security",
            "privacy",
            "interoperability",
            "performance",
            "cost_value",
            "ease_of_adoption",
        )
    ):
        alice.page.check(f"input[name='score-{dimension}'][value='{3 + index % 3}']")
        alice.page.fill(f"#evidence-{dimension}", f"What we saw about {dimension}")
    alice.click("button:has-text('Save and continue')")
    alice.page.check("input[name='decision'][value='iterate']")
    alice.page.fill("#lessons", "Residents needed the map as well as the table.")
    alice.page.fill("#notes", "Only for dwp.")
    alice.click("button:has-text('Save and continue')")
    assert "The evaluation has been saved." in alice.text() and "Iterate" in alice.text()
    evaluation = server.call("GET", f"/api/v1/trials/{trial_id}/evaluation").json()
    assert evaluation["decision"] == "iterate" and evaluation["measured"]["teardown_verified"]
    assert (evaluation["status"], evaluation["hypothesis_held"]) == ("complete", "partly")

    alice.go("/reports")
    assert "Can residents read air quality data without help?" in alice.text()
    alice.shot("compare")
    with alice.page.expect_download() as download:
        alice.page.click("text=Download as CSV")
    rows = Path(download.value.path()).read_text().splitlines()
    assert rows[0].startswith("schema,row,") and rows[1].split(",")[1] == "1"
    assert trial_id not in "\n".join(rows)  # the report opens no trial
    alice.go("/reports?by=supplier&problem_area=environment")
    alice.go("/trials").go("/")


def test_the_countdown_warns_before_the_sandbox_is_deleted(chromium: Any, server: Server) -> None:
    auth = token_for(server, "alice")
    made = httpx.post(
        server.url + "/api/v1/trials",
        headers=auth,
        timeout=30,
        json={
            "template": "open-data-dashboard",
            "title": "Warned in time",
            "hypothesis": "It warns",
            "duration_seconds": 315,
        },
    )
    assert made.status_code == 201, made.text
    trial_id = made.json()["id"]
    server.wait_for(trial_id, "Ready")
    alice = person(chromium, server, "alice").go(f"/trials/{trial_id}")
    warning = alice.page.locator(".den-countdown__warning")
    assert warning.is_hidden()  # more than five minutes left when the page was made
    warning.wait_for(state="visible", timeout=20_000)
    assert "The sandbox will be deleted in" in alice.page.inner_text("#trial-announcer")
    alice.check()
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_a_sandbox_opens_on_its_own_origin_for_its_people_only(chromium: Any, server: Server) -> None:
    """The sandbox is `http://<trial>-web.sandbox.localhost:<port>/` (Chromium resolves
    `*.localhost` to loopback itself). Its page works as on any site of its own (relative
    links, a form, fetch to itself); from it, no den cookie can be read, and the den's API and
    pages cannot be read with the visitor's credentials. The workloads' own policy forbids
    scripts, so the script checks run in a browser that ignores Content-Security-Policy: a
    workload that runs any script it likes, the worst case."""
    auth = token_for(server, "alice")
    made = httpx.post(
        server.url + "/api/v1/trials",
        headers=auth,
        timeout=30,
        json={
            "template": "case-management-prototype",
            "title": "A sandbox of its own",
            "hypothesis": "Its origin keeps it apart",
            "duration_seconds": 900,
        },
    )
    assert made.status_code == 201, made.text
    trial_id = made.json()["id"]
    origin = f"http://{trial_id}-web.sandbox.localhost:{server.port}"
    assert server.wait_for(trial_id, "Ready")["endpoints"] == {"web": origin + "/"}

    alice = person(chromium, server, "alice").go(f"/trials/{trial_id}")
    alice.click("text=Open the case management prototype")
    assert alice.page.url == f"{server.url}/trials/{trial_id}/open/web"
    assert "synthetic (made-up) data only" in alice.text()
    assert "will be deleted on" in alice.text()
    alice.shot("open-sandbox")
    page = alice.page
    continue_to_sandbox(page, origin + "/")
    assert page.url == origin + "/" and "Cases" in page.inner_text("h1")
    page.click("a[href^='cases/'] >> nth=0")  # the page's own relative link
    page.wait_for_url(origin + "/cases/*")
    assert page.inner_text("h1").startswith("Case ")
    page.click("text=All cases")
    page.wait_for_url(origin + "/")
    page.fill("#title", "Opened on an origin of its own")  # a form post to its own origin
    page.click("button:has-text('Open case')")
    page.wait_for_url(origin + "/")
    assert "Opened on an origin of its own" in page.inner_text("table")
    assert "den_" not in page.evaluate("document.cookie")
    cookies = {c["name"]: c for c in page.context.cookies()}
    mine = cookies["__Host-den_sandbox"]
    assert mine["domain"] == f"{trial_id}-web.sandbox.localhost"  # host-only
    assert mine["httpOnly"] and mine["secure"] and mine["sameSite"] == "Lax"
    assert cookies["__Host-den_session"]["domain"] == "127.0.0.1"

    scripted = chromium.new_context(bypass_csp=True)
    try:
        tab = scripted.new_page()
        tab.goto(server.url + "/sign-in")
        tab.check("input[name='user'][value='alice']")
        with tab.expect_navigation():
            tab.click("button:has-text('Sign in')")
        # Alice already has a live sandbox session: the den's page goes straight through.
        tab.goto(f"{server.url}/trials/{trial_id}/open/web")
        tab.wait_for_url(origin + "/")
        seen = tab.evaluate(
            """async ([den, trialId]) => {
            const own = await fetch('/cases/' + encodeURIComponent('CASE-0001'));
            const out = {own: own.status, cookie: document.cookie};
            for (const path of ['/api/v1/trials', '/trials.json', '/trials/' + trialId + '.json',
                                '/trials/' + trialId]) {
              try {
                const answer = await fetch(den + path, {credentials: 'include'});
                out[path] = 'read ' + answer.status + ' ' + (await answer.text()).slice(0, 80);
              } catch (error) { out[path] = 'refused'; }
            }
            return out;
        }""",
            [server.url, trial_id],
        )
    finally:
        scripted.close()
    assert seen.pop("own") == 200 and "den_" not in seen.pop("cookie")
    assert set(seen.values()) == {"refused"}, seen

    carol = person(chromium, server, "carol")  # a civil servant the trial is not shared with
    carol.page.goto(origin + "/")
    assert carol.page.url.startswith(f"{server.url}/trials/{trial_id}/open/web")
    assert "Page not found" in carol.text() and "Cases" not in carol.page.content()
    carol.check()

    server.call("POST", f"/api/v1/trials/{trial_id}/end")
    page.goto(origin + "/")  # ended: at once, before its containers are even gone
    assert "Page not found" in alice.text() and "Opened on an origin" not in page.content()
    server.wait_for(trial_id, "Stopped", timeout=60)
    page.goto(origin + "/cases/CASE-0001")
    assert page.url.startswith(server.url) and "Case " not in page.inner_text("h1")


def test_a_sleeping_sandbox_wakes_behind_the_waking_page(
    chromium: Any, engine_client: Any, tmp_path: Path
) -> None:
    """On a den whose sandboxes sleep after 10 s with no visit: the person left the sandbox,
    it fell asleep, and their next visit to its own address shows the den's "waking up" page,
    which moves on by itself into the sandbox once it answers."""
    sleepy = Server(data_dir=tmp_path, env={"DEN_IDLE_TIMEOUT": "10", "DEN_LIVENESS_INTERVAL": "1"})
    sleepy.env["DEN_PUBLIC_URL"] = sleepy.url
    sleepy.start()
    try:
        made = sleepy.call(
            "POST", "/api/v1/users", json={"name": "alice", "role": "civil_servant", "department": "dwp"}
        )
        assert made.status_code == 201, made.text
        trial = httpx.post(
            sleepy.url + "/api/v1/trials",
            headers=token_for(sleepy, "alice"),
            timeout=30,
            json={
                "template": "open-data-dashboard",
                "title": "A quiet trial",
                "hypothesis": "It sleeps",
                "duration_seconds": 900,
            },
        ).json()
        origin = f"http://{trial['id']}-web.sandbox.localhost:{sleepy.port}"
        sleepy.wait_for(trial["id"], "Ready", timeout=120)
        alice = person(chromium, sleepy, "alice").go(f"/trials/{trial['id']}/open/web")
        alice.plain = True
        # On a busy machine the sandbox may sleep before this first visit: the visit then wakes
        # it, and the waking page moves on by itself.
        continue_to_sandbox(alice.page, origin + "/", timeout=90_000)
        sleepy.wait_for(trial["id"], "Sleeping", timeout=90)
        trial_page = alice.go(f"/trials/{trial['id']}")
        assert "Asleep" in trial_page.text()
        alice.page.goto(origin + "/")  # back to the sandbox's own address
        alice.page.wait_for_url(f"{sleepy.url}/trials/{trial['id']}/open/web**")
        alice.check()
        assert "Your sandbox is waking up" in alice.text("h1")
        alice.shot("sandbox-waking")
        alice.page.wait_for_url(origin + "/**", timeout=60_000)  # by itself, no click
        alice.page.wait_for_load_state("load")
        assert sleepy.trial(trial["id"])["phase"] == "Ready"
        assert alice.page.url.startswith(origin)
        sleepy.call("POST", f"/api/v1/trials/{trial['id']}/end")
        sleepy.wait_for(trial["id"], "Stopped", timeout=120)
        assert leftovers(engine_client, trial["id"]) == []
    finally:
        sleepy.stop()
        remove_instance(engine_client, sleepy.instance)


def test_a_share_link_opens_the_sandbox_without_signing_in_until_revoked(
    chromium: Any, server: Server
) -> None:
    auth = token_for(server, "alice")
    made = httpx.post(
        server.url + "/api/v1/trials",
        headers=auth,
        timeout=30,
        json={
            "template": "open-data-dashboard",
            "title": "Shared with a participant",
            "hypothesis": "They find the worst borough",
            "duration_seconds": 900,
        },
    )
    trial_id = made.json()["id"]
    origin = f"http://{trial_id}-web.sandbox.localhost:{server.port}"
    server.wait_for(trial_id, "Ready")
    link = httpx.post(
        f"{server.url}/api/v1/trials/{trial_id}/share-links",
        headers=auth,
        timeout=30,
        json={"expires_in_seconds": 3600, "note": "participant 7"},
    )
    assert link.status_code == 201, link.text
    participant = person(chromium, server, None)  # nobody signed in
    participant.go(link.json()["url"].removeprefix(server.url))
    assert "Do not enter real personal data" in participant.text()
    continue_to_sandbox(participant.page, origin + "/")
    assert "Air quality by borough" in participant.page.content()
    revoked = httpx.delete(
        f"{server.url}/api/v1/trials/{trial_id}/share-links/{link.json()['id']}", headers=auth, timeout=30
    )
    assert revoked.status_code == 200
    participant.page.reload()  # revoked: at once
    assert "Air quality" not in participant.page.content()
    assert participant.page.url.startswith(server.url)
    participant.page.goto(link.json()["url"])
    assert "Page not found" in participant.text()
    participant.check()
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_a_team_member_opens_the_sandbox_and_a_stranger_does_not(chromium: Any, server: Server) -> None:
    """Alice adds carol (another department) to her trial on its page; carol then sees the
    trial and opens its sandbox on its own origin, and dora, alice's colleague who is not on
    the team, is told nothing of either. Taken off the team, carol's sandbox closes at once."""
    made = server.call(
        "POST", "/api/v1/users", json={"name": "dora", "role": "civil_servant", "department": "dwp"}
    )
    assert made.status_code in (201, 409), made.text
    auth = token_for(server, "alice")
    made = httpx.post(
        server.url + "/api/v1/trials",
        headers=auth,
        timeout=30,
        json={
            "template": "open-data-dashboard",
            "title": "A team trial",
            "hypothesis": "Two departments read it alike",
            "duration_seconds": 900,
        },
    )
    assert made.status_code == 201, made.text
    trial_id = made.json()["id"]
    origin = f"http://{trial_id}-web.sandbox.localhost:{server.port}"
    server.wait_for(trial_id, "Ready")

    alice = person(chromium, server, "alice").go(f"/trials/{trial_id}")
    assert "Nobody else is on this trial yet" in alice.text("#team")
    alice.page.fill("#member-user", "carol")
    alice.page.check("input[name='member-role'][value='collaborator']")
    alice.click("button:has-text('Add to the team')")
    assert "The member has been added" in alice.text()
    assert "carol" in alice.text("#team")

    carol = person(chromium, server, "carol").go("/trials")
    assert "A team trial" in carol.text()
    carol.go(f"/trials/{trial_id}")
    assert "Add to the team" not in carol.text()
    carol.click("text=Open the open data dashboard")
    continue_to_sandbox(carol.page, origin + "/")
    assert "Air quality by borough" in carol.page.content()

    dora = person(chromium, server, "dora")
    dora.page.goto(origin + "/")
    assert dora.page.url.startswith(f"{server.url}/trials/{trial_id}/open/web")
    assert "Page not found" in dora.text() and "Air quality" not in dora.page.content()
    dora.check()
    assert "A team trial" not in dora.go("/trials").text()
    dora_auth = token_for(server, "dora")
    opened = httpx.post(f"{server.url}/api/v1/trials/{trial_id}/open", headers=dora_auth, json={}, timeout=30)
    assert opened.status_code == 404, opened.text

    alice.click("button:has-text('Remove carol')")
    assert "The member has been removed" in alice.text()
    carol.page.reload()  # off the team: at once
    assert "Air quality" not in carol.page.content() and carol.page.url.startswith(server.url)
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_pages_work_without_javascript(chromium: Any, server: Server, engine_client: Any) -> None:
    alice = person(chromium, server, "alice", javascript=False)
    alice.go("/templates/citizen-enquiry-assistant/start/title")
    continue_with(alice, title="Without JavaScript")
    continue_with(alice, problem="Some people switch scripts off.")
    continue_with(alice, hypothesis="Every page still works.")
    continue_with(alice, **{"own-criteria": "A trial starts and ends"})
    alice.page.check("input[name='duration'][value='other']")
    continue_with(alice, **{"duration-minutes": "5"})
    assert "How should the sandbox be set up?" in alice.text()
    alice.page.check("input[name='param-tone'][value='formal']")
    continue_with(alice)
    alice.page.check("input[name='shared'][value='no']")
    continue_with(alice)
    assert "tone: formal" in alice.text()
    alice.click("#start-trial")
    alice.click("text=Follow your trial")
    trial_id = alice.page.url.rsplit("/", 1)[1]
    ready = server.wait_for(trial_id, "Ready")
    assert ready["parameters"] == {
        "greeting": "Hello! Ask me about bins, council tax or parking.",
        "tone": "formal",
    }
    alice.click("text=Refresh this page")  # no live progress: the link reloads the page
    assert "Open the citizen enquiry assistant" in alice.text()
    alice.click("text=End the trial now")
    alice.click("button:has-text('End the trial')")
    server.wait_for(trial_id, "Stopped", timeout=60)
    assert leftovers(engine_client, trial_id) == []


def test_a_supplier_sees_usage_and_publishes_a_version_by_upload(chromium: Any, server: Server) -> None:
    sam = person(chromium, server, "sam")
    sam.go("/supplier")
    assert "open-data-dashboard" in sam.text()
    sam.shot("supplier")
    sam.click("text=Publish a new version")
    manifest = yaml.safe_load(
        (ROOT / "sandbox_templates" / "open-data-dashboard" / "template.yaml").read_text()
    )
    broken = {
        **manifest,
        "metadata": {**manifest["metadata"], "version": "two"},
        "spec": {**manifest["spec"], "hostNetwork": True},
    }
    upload = {"name": "template.yaml", "mimeType": "application/yaml"}
    sam.page.set_input_files("#manifest", {**upload, "buffer": yaml.safe_dump(broken).encode()})
    sam.click("button:has-text('Check the manifest')")
    items = sam.page.locator(".govuk-error-summary li")
    assert items.count() == 2
    assert "metadata.version" in sam.text() and "spec.hostNetwork" in sam.text()
    sam.shot("publish-errors")
    sam.page.click(".govuk-error-summary a >> nth=0")  # each problem links to its own line
    assert sam.page.evaluate("location.hash").startswith("#line-")
    fixed = {**manifest, "metadata": {**manifest["metadata"], "version": "1.1.0"}}
    sam.page.set_input_files("#manifest", {**upload, "buffer": yaml.safe_dump(fixed).encode()})
    sam.click("button:has-text('Check the manifest')")
    assert "Check the version before you publish it" in sam.text()
    assert "A platform engineer reviews this version" in sam.text()
    sam.click("button:has-text('Publish this version')")
    assert "open-data-dashboard@1.1.0 has been sent. A platform engineer reviews it" in sam.text()
    sam.go("/templates/open-data-dashboard")
    assert "Start a trial" not in sam.text()  # suppliers do not launch trials

    # A platform engineer reviews what changed, and publishes it: its image is pinned.
    pat = person(chromium, server, "pat")
    pat.go("/platform")
    pat.click("a[href='/platform/templates/open-data-dashboard/1.1.0']")
    assert "Review open-data-dashboard 1.1.0" in pat.text()
    assert "What changed since version 1.0.0" in pat.text()
    pat.page.check("input[name='status'][value='Published']")
    pat.page.fill("#reason", "Only the version number changed.")
    pat.click("button:has-text('Record the decision')")
    assert "The template version's status has been changed." in pat.text()
    pat.go("/platform/templates/open-data-dashboard/1.1.0")
    assert "Images its trials run" in pat.text() and "sha256:" in pat.text()
    sam.go("/supplier")
    assert "Only the version number changed." in sam.text()


def test_an_approver_decides_and_a_platform_engineer_quarantines(chromium: Any, server: Server) -> None:
    auth = token_for(server, "alice")
    asked = httpx.post(
        server.url + "/api/v1/trials",
        headers=auth,
        timeout=30,
        json={
            "template": "citizen-enquiry-assistant",
            "title": "Two hours with the assistant",
            "hypothesis": "Residents get answers",
            "duration_seconds": 7200,
            "justification": "Enquiries peak over the lunch hour",
        },
    )
    assert asked.json()["phase"] == "PendingApproval", asked.text
    ann = person(chromium, server, "ann")
    ann.go("/approvals")
    assert "A trial of 2 hours" in ann.text() and "Enquiries peak over the lunch hour" in ann.text()
    ann.shot("approvals")
    ann.click("text=Two hours with the assistant")
    assert "Decide on this request" in ann.text() and "Withdraw the request" not in ann.text()
    ann.click("text=Approve or reject")
    ann.click("button:has-text('Confirm the decision')")  # nothing chosen: the error summary
    assert ann.page.locator(".govuk-error-summary").is_visible()
    ann.page.check("input[name='decision'][value='reject']")
    ann.click("button:has-text('Confirm the decision')")  # a rejection needs its reason
    assert "Enter why you are rejecting the request" in ann.text()
    ann.page.check("input[name='decision'][value='reject']")
    ann.page.fill("#note", "Two hours is more than this question needs: ask for one.")
    ann.click("button:has-text('Confirm the decision')")
    assert "Request rejected" in ann.text() and "alice will see the decision" in ann.text()
    ann.shot("decided")
    server.wait_for(asked.json()["id"], "Stopped")

    pat = person(chromium, server, "pat")
    pat.go("/platform")
    pat.shot("platform")
    pat.click("a[href='/platform/templates/case-management-prototype/1.0.0']")
    pat.page.check("input[name='status'][value='Quarantined']")
    pat.page.fill("#reason", "A dependency has a known vulnerability.")
    pat.click("button:has-text('Change the status')")
    assert "The template version's status has been changed." in pat.text()
    pat.go("/templates/case-management-prototype")
    assert "quarantined: it cannot be trialled" in pat.text()
    pat.go("/approvals").go("/supplier/publish").go("/trials")
    pat.go("/platform")
    pat.click("text=Feedback from people using the service")
    assert "The dark mode toggle is missing" in pat.text() and "/signed-out" in pat.text()


def _date_fields(prefix: str, when: datetime) -> dict[str, str]:
    return {
        f"{prefix}-day": str(when.day),
        f"{prefix}-month": str(when.month),
        f"{prefix}-year": str(when.year),
    }


def _evaluation(criterion: str, scores: tuple[int, ...]) -> dict[str, Any]:
    """A complete evaluation of a trial of the offer (its one success criterion answered)."""
    return {
        "scores": {
            d: {"score": score, "evidence": f"Seen in the trial: {d}"}
            for d, score in zip(
                (
                    "user_need",
                    "accessibility",
                    "security",
                    "privacy",
                    "interoperability",
                    "performance",
                    "cost_value",
                    "ease_of_adoption",
                ),
                scores,
                strict=True,
            )
        },
        "decision": "iterate",
        "hypothesis_held": "partly",
        "hypothesis_evidence": "Fewer missed, not half",
        "criteria_results": [{"criterion": criterion, "met": "partly", "evidence": "18% missed"}],
    }


def test_a_challenge_is_published_answered_and_its_equal_offer_compared(
    chromium: Any, server: Server, engine_client: Any
) -> None:
    """A civil servant writes and publishes a challenge; two suppliers respond with their own
    templates; one asks a question both read answered; a session is scheduled and a document
    shared; the owner launches the equal offer (two trials on Docker, both Ready), records
    their evaluations (through the API, with the owner's token), compares them on the
    challenge's page, downloads the UK2 draft and the OCDS package (valid, by libcoveocds)
    and records the decision."""
    alice = person(chromium, server, "alice")
    alice.plain = True
    alice.go("/challenges")
    alice.click("text=Write a challenge")
    alice.click("button:has-text('Continue')")  # nothing typed: the error summary
    assert alice.page.locator(".govuk-error-summary").is_visible()
    continue_with(alice, title="Fewer missed benefit appointments")
    assert "Describe the problem, not a solution" in alice.text()
    continue_with(
        alice, problem="A third of claimants miss their first appointment, and rebooking takes weeks."
    )
    continue_with(alice, users_and_need="Claimants need to know when and where, in a way that reaches them.")
    continue_with(alice, tried="Letters, and text reminders sent by hand.")
    continue_with(alice, constraints="Must work on a basic phone.")
    continue_with(alice, budget_min="20000", budget_max="80000")
    continue_with(alice, timeline="A pilot from spring")
    today = datetime.now(UTC)
    continue_with(alice, **_date_fields("closes", today + timedelta(days=14)))
    continue_with(alice, problem_areas="appointments\nnotifications")
    assert "£20,000 to £80,000" in alice.text()
    alice.click("#save")
    assert "Your challenge has been published" in alice.text()
    challenge = re.findall(r"/challenges/([a-z0-9]+)", alice.page.url)[0]
    page = f"/challenges/{challenge}"

    suppliers = {"sam": "open-data-dashboard", "nia": "citizen-enquiry-assistant"}
    visitors = {}
    for name, template in suppliers.items():
        supplier = visitors[name] = person(chromium, server, name)
        supplier.go(page)
        supplier.click("a.govuk-button:has-text('Respond')")
        assert supplier.page.locator("input[name='templates']").count() == 1  # only its own
        supplier.page.fill("#summary", f"{template} would send reminders people can answer.")
        supplier.page.check(f"input[name='templates'][value='{template}']")
        supplier.page.check("input[name='conflict'][value='no']")
        supplier.click("button:has-text('Send your response')")
        assert "Your response has been sent" in supplier.text()
    sam, nia = visitors["sam"], visitors["nia"]
    sam.click("text=Ask a question")
    sam.page.fill("#question", "Is there an API for bookings?")
    sam.click("button:has-text('Send the question')")
    alice.go(page)
    alice.click("a[href*='/answer']")
    alice.page.fill("#answer", "Yes: a booking API, documented for every supplier.")
    alice.click("button:has-text('Publish the answer')")
    for name, visitor in visitors.items():
        shown = visitor.go(page).text("#main-content")
        assert "Is there an API for bookings?" in shown and "documented for every supplier" in shown
        assert ("Your question" in shown) is (name == "sam"), name

    alice.click("text=Schedule a session")
    held = today + timedelta(days=3)
    for selector, value in {
        "title": "Questions and answers",
        **_date_fields("date", held),
        "starts": "2pm",
        "ends": "3:30pm",
        "place": "https://meet.example.gov.uk/appointments",
        "capacity": "10",
    }.items():
        alice.page.fill(f"#{selector}", value)
    alice.page.check("input[name='mode'][value='online']")
    alice.click("button:has-text('Add the session')")
    assert "The session has been added" in alice.text()
    nia.go(page)
    nia.click("button:has-text('Register')")
    assert "You have a place" in nia.text()
    alice.go(page)
    alice.click("a[href*='/materials']")
    alice.page.fill("#title", "Slides")
    alice.page.fill("#url", "https://docs.example.gov.uk/appointments/slides.pdf")
    alice.click("button:has-text('Share the document')")
    assert "Slides" in sam.go(page).text()

    alice.go(page)
    alice.click("text=Launch the equal offer")
    alice.page.fill("#hypothesis", "Reminders people can answer halve missed appointments")
    alice.page.fill("#success_criteria", "Fewer than 15% missed")
    alice.page.fill("#duration", "15")
    alice.page.check("input[name='duration-unit'][value='minutes']")
    alice.click("button:has-text('Launch the trials')")
    assert "The equal offer has been launched" in alice.text()
    auth = token_for(server, "alice")
    trials = httpx.get(f"{server.url}/api/v1/challenges/{challenge}/trials", headers=auth, timeout=30).json()[
        "items"
    ]
    assert sorted(t["template"] for t in trials) == sorted(suppliers.values())
    scored = ((4, 3, 5, 4, 2, 3, 4, 5), (3, 5, 4, 4, 4, 2, 3, 4))
    for trial, scores in zip(trials, scored, strict=True):
        server.wait_for(trial["id"], "Ready", timeout=180)
        recorded = httpx.put(
            f"{server.url}/api/v1/trials/{trial['id']}/evaluation",
            headers=auth,
            timeout=30,
            json=_evaluation("Fewer than 15% missed", scores),
        )
        assert recorded.status_code == 200, recorded.text
    alice.go(page)
    chart = alice.page.locator("svg.den-chart")
    assert chart.count() == 1 and chart.is_visible()
    assert alice.page.locator("svg.den-chart rect.den-chart__bar").count() == 2 * 8
    assert "Trials side by side" in alice.text()
    alice.shot("challenge")

    notice = alice.page.request.get(f"{server.url}{page}/uk2.txt")
    assert notice.status == 200 and "Fewer missed benefit appointments" in notice.text()
    package = alice.page.request.get(f"{server.url}{page}/ocds.json")
    assert package.status == 200
    found = validate(package.json())
    assert found["validation_errors"] == [], found["validation_errors"]
    assert sam.page.request.get(f"{server.url}{page}/ocds.json").status == 403

    alice.click("text=Record the decision")
    alice.page.fill("#decision", "Iterate with both suppliers on reminders people can answer.")
    alice.click("button:has-text('Record the decision')")
    assert "Decided" in nia.go(page).text()
    for trial in trials:
        server.call("POST", f"/api/v1/trials/{trial['id']}/end")
    for visitor in (alice, sam, nia):
        visitor.page.context.close()


def tell_us_about_a_problem(visitor: Person, *, came_from: str) -> None:
    """'Tell us about any problem' (in the phase banner of every page) opens the feedback
    form, which carries the page it came from; it can be sent without signing in."""
    visitor.click(".govuk-phase-banner a")
    assert visitor.page.url.endswith(f"/feedback?page={came_from}")
    visitor.click("button:has-text('Send feedback')")
    assert "Enter what went wrong" in visitor.page.inner_text(".govuk-error-summary")
    visitor.page.fill("#doing", "Reading the service at night")
    visitor.page.fill("#wrong", "The dark mode toggle is missing")
    visitor.page.check("input[name='satisfaction'][value='satisfied']")
    visitor.page.fill("#reply-to", "not an address")
    visitor.click("button:has-text('Send feedback')")
    assert "Enter an email address in the correct format" in visitor.text()
    visitor.page.fill("#reply-to", "reader@example.com")
    visitor.click("button:has-text('Send feedback')")
    assert "Thank you for your feedback" in visitor.text()


def test_choosing_what_you_are_told_by_email(chromium: Any, server: Server) -> None:
    """'Notifications' in the header opens the choices; unticking an event and saving keeps
    it unticked, and the JSON twin says the same."""
    alice = person(chromium, server, "alice")
    alice.go("/")
    alice.click(".govuk-service-navigation a[href='/account/notifications']")
    assert "What do you want to be told about by email?" in alice.text()
    alice.page.uncheck("input[name='events'][value='trial.ready']")
    alice.click("button:has-text('Save your choices')")
    assert "Your choices were saved" in alice.text()
    assert not alice.page.is_checked("input[name='events'][value='trial.ready']")
    assert alice.page.is_checked("input[name='events'][value='trial.expiring']")
    mine = httpx.get(
        server.url + "/api/v1/users/me/notifications", headers=token_for(server, "alice"), timeout=30
    ).json()
    assert "trial.ready" not in mine["email_events"] and "trial.expiring" in mine["email_events"]
    alice.page.context.close()


def test_every_page_reflows_at_320_pixels(chromium: Any, server: Server) -> None:
    """WCAG 1.4.10: one walk through every page at 320 CSS pixels wide (the journeys above
    run at a desktop width), each checked by axe and for sideways scrolling, with long
    answers, as people type them, where a page shows them."""
    auth = token_for(server, "alice")
    # Words longer than a phone is wide, with nowhere to break: a station's code, an address.
    long_words = "Can residents read HACKNEYAIRQUALITYMONITORINGSTATIONSEVENTEENNORTH without help?"
    made = httpx.post(
        server.url + "/api/v1/trials",
        headers=auth,
        timeout=30,
        json={
            "template": "open-data-dashboard",
            "title": long_words,
            "hypothesis": "https://data.example.gov.uk/airquality/boroughs/everyreadingthisyear.csv",
            "duration_seconds": 900,
        },
    )
    assert made.status_code == 201, made.text
    trial_id = made.json()["id"]
    pending = httpx.post(
        server.url + "/api/v1/trials",
        headers=auth,
        timeout=30,
        json={
            "template": "citizen-enquiry-assistant",
            "title": "Narrow screens for two hours",
            "hypothesis": "It reflows",
            "duration_seconds": 7200,
        },
    ).json()["id"]
    server.wait_for(trial_id, "Ready")
    link = httpx.post(
        f"{server.url}/api/v1/trials/{trial_id}/share-links",
        headers=auth,
        timeout=30,
        json={"expires_in_seconds": 3600},
    )
    assert link.status_code == 201, link.text
    share = link.json()["url"].removeprefix(server.url)
    trial = f"/trials/{trial_id}"
    challenge, closed, draft, question, held = _challenges_to_walk(server, auth, long_words)
    walks: dict[str | None, list[str]] = {
        None: [
            "/",
            "/sign-in",
            "/signed-out",
            "/accessibility",
            "/cookies",
            "/feedback?page=/cookies",
            "/privacy",
            share,
        ],
        "alice": [
            "/",
            "/techmap",
            "/templates/open-data-dashboard",
            "/templates/open-data-dashboard/start/title",
            "/trials",
            trial,
            f"{trial}/confirmation",
            f"{trial}/open/web",
            f"{trial}/evaluation",
            *(f"{trial}/evaluation/{part}" for part in ("question", "scores", "decision")),
            f"{trial}/end",
            "/reports",
            "/reports?by=supplier",
            "/guide/templates",
            "/account/notifications",
            "/challenges",
            *(f"/challenges/new/{step}" for step in ("title", "problem", "budget", "dates", "areas")),
            challenge,
            f"/challenges/{draft}/publish",
            f"{challenge}/close",
            f"{challenge}/questions/{question}/answer",
            f"{challenge}/sessions/new",
            f"{challenge}/sessions/{held}/materials",
            f"{challenge}/offer",
            f"{closed}/decision",
        ],
        "ann": [
            "/approvals",
            f"/trials/{pending}/decide",
            f"/trials/{pending}/reject",
            f"/trials/{pending}/decided?decision=rejected",
        ],
        "sam": [
            "/supplier",
            "/supplier/publish",
            "/supplier/publish/check",
            challenge,
            f"{challenge}/respond",
            f"{challenge}/ask",
        ],
        "pat": ["/platform", "/platform/templates/open-data-dashboard/1.0.0", "/platform/feedback"],
    }
    for name, paths in walks.items():
        visitor = person(chromium, server, name, viewport=NARROW)
        for path in paths:
            visitor.go(path)
        visitor.page.context.close()
    server.call("POST", f"/api/v1/trials/{trial_id}/end")
    server.call("POST", f"/api/v1/trials/{pending}/end")


def _challenges_to_walk(
    server: Server, auth: dict[str, str], long_words: str
) -> tuple[str, str, str, int, int]:
    """Alice's challenges for the walk at 320 pixels: one open, with a question from sam and a
    session; one closed; a draft. Their pages, a question's id and a session's id."""
    closes = (datetime.now(UTC) + timedelta(days=10)).isoformat()

    def made(publish: bool) -> str:
        answer = httpx.post(
            server.url + "/api/v1/challenges",
            headers=auth,
            timeout=30,
            json={
                "title": long_words,
                "problem": "https://data.example.gov.uk/appointments/everymissedappointmentthisyear.csv",
                "problem_areas": ["appointments"],
                "budget_min": 1000,
                "budget_max": 2000,
                "closes_at": closes,
                "publish": publish,
            },
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    open_one, closed, draft = made(True), made(True), made(False)
    sam = token_for(server, "sam")
    asked = httpx.post(
        f"{server.url}/api/v1/challenges/{open_one}/questions",
        headers=sam,
        timeout=30,
        json={"question": long_words},
    )
    starts = datetime.now(UTC) + timedelta(days=2)
    held = httpx.post(
        f"{server.url}/api/v1/challenges/{open_one}/sessions",
        headers=auth,
        timeout=30,
        json={
            "title": "Questions and answers",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "mode": "online",
            "place": "https://meet.example.gov.uk/appointments/questionsandanswersforeverysupplier",
            "capacity": 10,
        },
    )
    shut = httpx.post(f"{server.url}/api/v1/challenges/{closed}/close", headers=auth, timeout=30)
    assert asked.status_code == held.status_code == 201 and shut.status_code == 200, (asked.text, held.text)
    return f"/challenges/{open_one}", f"/challenges/{closed}", draft, asked.json()["id"], held.json()["id"]


NOT_PAGES = {
    "/reports/trial-report.{extension}",  # downloads, not pages
    "/challenges/{challenge_id}/uk2.txt",
    "/challenges/{challenge_id}/ocds.json",
    "/trials/{trial_id}/evaluation.pdf",
    # Redirects through the sign-in provider, never a page of their own; their journey,
    # and the pages they lead to or fail on, are tests/e2e/test_sign_in_oidc.py's.
    "/sign-in/start",
    "/sign-in/callback",
}


def test_every_page_was_checked_by_axe() -> None:
    """Runs last (file order): each page route was reached, and passed axe and the reflow
    check, in a test above, and again at 320 pixels wide."""
    pages = {route.path for route in page_routes()} - NOT_PAGES
    assert not pages - CHECKED, f"pages no journey reached: {sorted(pages - CHECKED)}"
    assert not pages - REFLOWED, f"pages not checked at 320 pixels: {sorted(pages - REFLOWED)}"


def test_the_screenshots_are_small_enough_to_commit() -> None:
    shots = sorted(SCREENSHOTS.glob("*.png"))
    assert len(shots) >= 12
    assert all(shot.stat().st_size < 400_000 for shot in shots), [(s.name, s.stat().st_size) for s in shots]
