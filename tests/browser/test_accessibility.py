"""Issue 13, defect 9: axe-core (bundled by axe-playwright-python, no download) finds nothing
serious or critical on any page of the dashboard (tests/browser/site_pages.PAGES: tenant pages as
the owner, staff pages as the operator, sign-in and the error pages), at 1366 px and at 390 px.
A screenshot of every page at both widths goes to test-artifacts/screenshots/."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.site_pages import PAGES, WIDTHS, signed_in_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("fast_passwords"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.browser.site_pages"),
]

BLOCKING = ("serious", "critical")


def findings(page):
    """axe-core's serious and critical violations on the page as it is now, one line per element."""
    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {node['target']}"
        for v in violations
        if v["impact"] in BLOCKING
        for node in v["nodes"]
    ]


@pytest.mark.parametrize("site_page", PAGES, ids=[p.id for p in PAGES])
def test_no_serious_axe_findings(site_page, browser, live_server, site, shot):
    context, page = signed_in_page(browser, live_server, site_page.who, WIDTHS["wide"])
    try:
        status = site_page.open(page, live_server.url, site)
        assert status == site_page.status
        found = {}
        for name, width in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": 860})
            shot(page, f"{site_page.id}-{width}")
            found[name] = findings(page)
    finally:
        context.close()
    assert found == {name: [] for name in WIDTHS}
