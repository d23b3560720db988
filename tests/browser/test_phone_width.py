"""Issue 13, defect 7: at 390 px no page of the dashboard (tests/browser/site_pages.PAGES) scrolls
sideways. Wide tables scroll inside their .table-wrap, long ids wrap (.id), and the sidebar is a
top bar whose menu folds behind a Menu button."""

import pytest

from tests.browser.site_pages import PAGES, WIDTHS, signed_in_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.usefixtures("fast_passwords"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.browser.site_pages"),
]

# What overflows: the widest elements whose right edge passes the viewport, to name in a failure.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll("body *")].filter(el => el.getBoundingClientRect().right > width + 1);
  const outermost = wide.filter(el => !wide.includes(el.parentElement));
  return {
    scrollWidth: document.scrollingElement.scrollWidth,
    innerWidth: width,
    culprits: outermost.slice(0, 5).map(el => el.outerHTML.slice(0, 120)),
  };
}"""


@pytest.mark.parametrize("site_page", PAGES, ids=[p.id for p in PAGES])
def test_no_sideways_scroll_on_a_phone(site_page, browser, live_server, site):
    context, page = signed_in_page(browser, live_server, site_page.who, WIDTHS["phone"])
    try:
        assert site_page.open(page, live_server.url, site) == site_page.status
        layout = page.evaluate(OVERFLOW)
    finally:
        context.close()
    assert layout["scrollWidth"] <= layout["innerWidth"], layout
