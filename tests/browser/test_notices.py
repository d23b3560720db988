"""The tenant notices (templates/accounts/_notices.html) in a real browser: the low-balance warning
and the suspended-account notice are announced (role="status"), pass axe-core with nothing serious
or critical (their contrast included), and fit a phone's width."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from accounts.models import Tenant
from tests.helpers import USD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]


@pytest.mark.parametrize(
    ("name", "state", "expected"),
    [
        ("low", {"balance": 2 * USD}, "Low balance: $2.00 left."),
        ("empty", {"balance": 0}, "Your balance is $0.00"),
        ("suspended", {"is_active": False}, "This account is suspended; pages are read-only."),
    ],
    ids=["low", "empty", "suspended"],
)
def test_notices_are_announced_readable_and_fit_a_phone(page, live_server, tenant, users, name, state, expected, shot):
    Tenant.objects.filter(pk=tenant.pk).update(**state)
    sign_in(page, live_server, "owner", "pw-owner-123")
    page.goto(f"{live_server.url}/keys/")
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 860})
        assert expected in page.get_by_role("status").inner_text()
        violations = Axe().run(page).response["violations"]
        serious = [
            (v["id"], node["target"])
            for v in violations
            if v["impact"] in ("serious", "critical")
            for node in v["nodes"]
        ]
        assert serious == []
        assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        shot(page, f"notice-{name}-{width}")
