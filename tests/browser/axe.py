"""axe-core in the browser tests: the vendored copy (static/vendor/axe/, from npm) installed in
a test context's pages before their own scripts, never linked from a page people get.

`axe_users(browser, stack)` gives logged-in contexts with axe in every page; `violations(page)`
runs it over the page as it is now (after a push, an action, a resize) and returns one readable
line per failing node, so an assertion message says what to fix and where.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.browser.stack import ROOT

AXE_FILE = ROOT / "static" / "vendor" / "axe" / "axe-4.14.1.min.js"
# WCAG 2.1 A and AA, and axe's best practices (headings in order, landmarks, ...).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

# Runs in the page (a function, so no eval that the pages' Content-Security-Policy refuses).
RUN = """
async (tags) => {
  const result = await window.axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
  }));
}
"""


def axe_script() -> str:
    """The init script that installs axe-core (window.axe) in every page of a context."""
    return AXE_FILE.read_text()


def axe_users(browser, stack):  # type: ignore[no-untyped-def]
    """Users (tests/browser/conftest.py) whose pages all carry axe-core."""
    from tests.browser.conftest import Users

    return Users(browser, stack, init_script=axe_script())


def run_axe(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(RUN, TAGS)


def violations(page: Page, label: str = "") -> list[str]:
    """One line per node axe-core finds wrong on the page now, prefixed with `label`."""
    where = label or page.url
    return [
        f"{where}: {v['id']} ({v['impact']}) {v['help']} at {node['target']}: {node['summary']}"
        for v in run_axe(page)
        for node in v["nodes"]
    ]


def assert_accessible(page: Page, label: str = "") -> None:
    found = violations(page, label)
    assert not found, "axe-core found:\n" + "\n".join(found)


# The document's overflow, and the innermost elements that stick out past the viewport's edge.
OVERFLOW = """
() => {
  const root = document.documentElement, edge = root.clientWidth;
  const out = [];
  document.querySelectorAll("body *").forEach((el) => {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > edge + 0.5 && !Array.from(el.children).some(
          (c) => c.getBoundingClientRect().right > edge + 0.5)) {
      const classes = typeof el.className === "string" ? el.className.trim() : "";
      out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
               (classes ? "." + classes.split(/\\s+/).join(".") : "") +
               " (right " + Math.round(box.right) + ")");
    }
  });
  return [root.scrollWidth - edge, out.slice(0, 5)];
}
"""


def horizontal_overflow(page: Page) -> tuple[int, list[str]]:
    """How many CSS pixels the document is wider than the viewport (0: no sideways scroll),
    and the elements that stick out."""
    wider, where = page.evaluate(OVERFLOW)
    return wider, where
