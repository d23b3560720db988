"""The Simplified Chinese UI (zh-hans): the catalog is complete and compiled, and every page, chosen
by the browser's Accept-Language or by the language switch, is in Chinese, with dates in Django's
zh-hans formats and money in US dollars through the ``usd`` filter.

"In Chinese" is checked two ways on each page's visible text (text nodes and the attributes a person
reads or hears: title, placeholder, aria-label, alt; not scripts, styles, code or pre blocks):
no catalog msgid of two words or more appears in it verbatim, and no run of English words that the
English rendering of the same page also shows is left over, unless it is data (names, ids, models,
URLs) or a product name kept in English on purpose (``KEPT``).
"""

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import formats, translation

from accounts.models import ApiKey, AuditEntry, Tenant, WebhookEndpoint
from channels.adaptors import registry
from tests.browser.site_pages import PAGES, SitePage, build_site
from tests.helpers import signed_in
from videos.models import VideoTask

# The whole-site walk's URLs: the site's routes plus /test-error/<status>/ (the 400, 403 and 500 pages).
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.browser.site_pages")]

CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"

# English that stays English on a Chinese page on purpose: product and vendor names, protocol words.
# The credential names of vendor consoles (Kling, Volcengine) stay as the console shows them.
KEPT = {
    "Video Gateway",
    "Standard Webhooks",
    "OpenAI SDK",
    "Access Key ID",
    "Secret Access Key",
    "Access Key",
    "Secret Key",
}


# --- the catalog ----------------------------------------------------------------------------------


def catalog():
    return polib.pofile(str(CATALOG / "django.po"))


def test_every_message_is_translated_and_none_is_fuzzy():
    po = catalog()
    assert len(po) > 100
    assert not [entry.msgid for entry in po.untranslated_entries()]
    assert not [entry.msgid for entry in po.fuzzy_entries()]
    assert not po.metadata_is_fuzzy
    assert po.metadata["Plural-Forms"] == "nplurals=1; plural=0;"


def test_placeholders_survive_translation():
    """A translation keeps every %(name)s / {name} / %s of its msgid, or Django raises at render time."""
    pattern = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")
    for entry in catalog().translated_entries():
        source = sorted(pattern.findall(entry.msgid_plural or entry.msgid))
        for target in entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]:
            assert sorted(pattern.findall(target)) == source, entry.msgid


def test_compiled_catalog_matches_the_po():
    po, mo = catalog(), polib.mofile(str(CATALOG / "django.mo"))
    compiled = {(entry.msgctxt, entry.msgid): entry for entry in mo}
    for entry in po.translated_entries():
        found = compiled.get((entry.msgctxt, entry.msgid))
        assert found is not None, f"not compiled: {entry.msgid!r} (run manage.py compilemessages)"
        if entry.msgid_plural:
            assert found.msgstr_plural == {int(k): v for k, v in entry.msgstr_plural.items()}, entry.msgid
        else:
            assert found.msgstr == entry.msgstr, f"stale .mo for {entry.msgid!r} (run manage.py compilemessages)"
    assert len([entry for entry in mo if entry.msgid]) == len(po.translated_entries())


# --- pages ----------------------------------------------------------------------------------------


class VisibleText(HTMLParser):
    """The text a person reads on a page, as a list of pieces (one per text node or readable attribute)."""

    HIDDEN = {"script", "style", "template", "code", "pre", "textarea"}
    READ = ("title", "placeholder", "aria-label", "alt")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.pieces, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        attrs = dict(attrs)
        self.pieces += [attrs[name] for name in self.READ if attrs.get(name)]
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.pieces.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)

    def handle_data(self, data):
        if not self.hidden and data.strip():
            self.pieces.append(" ".join(data.split()))


def visible_text(html):
    parser = VisibleText()
    parser.feed(html)
    return parser.pieces


ENGLISH_DATES = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b"
    r"|\b(?:January|February|March|April|June|July|August|September|October|November|December)\b"
    r"|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b|\b[ap]\.m\.|\bnoon\b|\bmidnight\b"
)
# "1 十一月 2026", "星期日 1 十一月": an English date format ("D j M Y") with Chinese names; the zh-hans
# formats are "2026年11月1日" (DATE_FORMAT) and "11月01日" (MONTH_DAY_FORMAT).
ENGLISH_ORDER = re.compile(r"(?:星期.\s*)?\d{1,2}\s+[一二三四五六七八九十]{1,3}月(?:\s+\d{4})?")
SHORTEST = 2  # words in a run of English that counts as left untranslated (single words are too often data)
DATA = re.compile(r"[\d_./@:#]|^sk-|^whsec")  # a token with these is an id, a URL, an address, a number, code


def without_data(pieces, data):
    """``pieces`` with each data value and kept product name cut out (a "|" in its place)."""
    cut = []
    for piece in pieces:
        for value in sorted({*data, *KEPT}, key=len, reverse=True):
            if value:
                piece = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", " | ", piece)
        cut.append(piece)
    return cut


def english_phrases(pieces):
    """Runs of two or more English words in ``pieces``, leaving out tokens that look like data."""
    found = set()
    for piece in pieces:
        words = []
        for token in [*piece.split(), "|"]:
            word = token.strip(",;:.!?()[]“”\"'")
            if re.fullmatch(r"[A-Za-z][A-Za-z'’-]*", word) and not DATA.search(token.rstrip(",;:.!?)")):
                words.append(word)
                if token[-1] in ",;:.!?)":
                    words.append("|")
                continue
            words.append("|")
        for run in " ".join(words).split("|"):
            if len(run.split()) >= SHORTEST:
                found.add(run.strip())
    return found


def catalog_phrases():
    """The msgids of two words or more, split at their placeholders and tags, whose translation differs."""
    phrases = set()
    for entry in catalog().translated_entries():
        for msgid in filter(None, (entry.msgid, entry.msgid_plural)):
            for fragment in re.split(r"%\(\w+\)[sd]|%[sd]|\{\w*\}|<[^>]+>", msgid):
                fragment = " ".join(fragment.split()).strip(" .,:;")
                if len(fragment.split()) >= 2 and fragment not in entry.msgstr and fragment not in KEPT:
                    phrases.add(fragment)
    return phrases


@pytest.fixture
def site(tenant, users, sandbox):
    """The objects the whole-site browser tests show (tests/browser/site_pages.py), and the data among
    them that pages show as it is: never counted as English left untranslated."""
    site = build_site(tenant, users, sandbox)
    tasks = VideoTask.objects.filter(tenant=tenant)
    site["data"] = [
        *(user.username for user in get_user_model().objects.all()),
        *Tenant.objects.values_list("name", flat=True),
        *ApiKey.objects.values_list("name", flat=True),
        *(key.masked for key in ApiKey.objects.all()),
        *WebhookEndpoint.objects.values_list("url", "description").distinct()[0],
        *tasks.values_list("prompt", flat=True).distinct(),
        *tasks.values_list("error_message", flat=True).distinct(),  # the vendor's words, as they came
        *AuditEntry.objects.values_list("action", flat=True),
        sandbox.name,
        *sandbox.served_models,
        # Vendor product names, whole and in parts ("Google Veo (Vertex AI)").
        *(part.strip() for adaptor in registry.all_adaptors() for part in re.split(r"[()]", adaptor.label)),
        "This account is suspended; pages are read-only.",  # what /test-error/403/ raises, untranslated
    ]
    return site


# The pages of the whole-site walk that a GET reaches (the ends of flows are rendered below, through
# the same flows), and a few more states of them.
GET_PAGES = [site_page for site_page in PAGES if site_page.reach is None] + [
    SitePage("task-list", "owner", query="?status=failed"),
    SitePage("password_change_done", "owner"),
    SitePage("staff-home", "staff"),
    SitePage("staff-channel-new", "staff", query="?vendor=kling"),  # a vendor with two kinds of credentials
]


def client_as(site, who, **kwargs):
    """A page client signed in as ``who`` ("owner", "staff" or None), answering errors as pages."""
    user = {"owner": site["users"]["owner"], "staff": site["staff"]}.get(who)
    kwargs.setdefault("raise_request_exception", False)
    return signed_in(user, **kwargs) if user else Client(**kwargs)


def in_chinese(client, how="header"):
    """``client`` asking for zh-hans: by Accept-Language, or by choosing it in the language switch."""
    if how == "header":
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    else:
        response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
        assert response.status_code == 302 and response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    return client


def english_left(url, english, chinese, data, phrases):
    """What is still English on the zh-hans rendering of ``url`` (empty when all is well)."""
    assert chinese.status_code == english.status_code, url
    html = chinese.content.decode()
    assert '<html lang="zh-hans">' in html, url
    assert '<html lang="en' in english.content.decode(), url
    text = without_data(visible_text(html), data)
    assert re.search(r"[\u4e00-\u9fff]", " ".join(text)), url
    joined = "\n".join(text)
    left = {phrase for phrase in phrases if re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", joined)}
    left |= english_phrases(text) & english_phrases(without_data(visible_text(english.content.decode()), data))
    if found := sorted(set(ENGLISH_DATES.findall(joined))):
        left.add(f"English month or day names: {', '.join(found)}")
    if found := ENGLISH_ORDER.findall(joined):
        left.add(f"dates in an English format (day before month), e.g. {found[0]!r}")
    return [f"{url}: {phrase}" for phrase in sorted(left)]


@pytest.mark.parametrize("how", ["header", "switch"])
def test_every_page_is_in_chinese(site, how):
    phrases, left = catalog_phrases(), []
    for who in ("owner", "staff", None):
        english, chinese = client_as(site, who), in_chinese(client_as(site, who), how)
        for site_page in GET_PAGES:
            if site_page.who != who or not site_page.routed():
                continue
            url = site_page.url(site)
            answers = english.get(url, follow=True), chinese.get(url, follow=True)
            assert [answer.status_code for answer in answers] == [site_page.status] * 2, url
            left += english_left(url, *answers, site["data"], phrases)
    assert not left, "English on zh-hans pages:\n" + "\n".join(left)


def test_pages_at_the_end_of_a_flow_are_in_chinese(site):
    """Sign-in errors, the new key (post/redirect/get), the new webhook secret, a form sent back with
    errors, the 404 page signed in and out, and the CSRF failure page."""
    phrases, data, left = catalog_phrases(), site["data"], []

    def both(who, send, url, **kwargs):
        english, chinese = client_as(site, who, **kwargs), in_chinese(client_as(site, who, **kwargs))
        return english_left(url, send(english, url), send(chinese, url), data, phrases)

    def get(client, url):
        return client.get(url)

    def post(form):
        return lambda client, url: client.post(url, form, follow=True)

    left += both(None, post({"username": "owner", "password": "wrong-password"}), reverse("login"))
    left += both(None, post({"username": "owner"}), reverse("login"), enforce_csrf_checks=True)
    left += both(None, get, "/no-such-page/")
    left += both("owner", get, "/no-such-page/")
    left += both("owner", post({"url": "https://8.8.8.8/hook", "description": "CI"}), reverse("webhook-create"))
    left += both("owner", post({"url": "nope"}), reverse("webhook-create"))
    left += both("owner", post({"name": ""}), reverse("key-create"))
    data.append("made-in-test")
    left += both("owner", post({"name": "made-in-test"}), reverse("key-create"))
    assert not left, "English on zh-hans pages:\n" + "\n".join(left)


def test_the_switch_goes_back_to_english(users):
    client = in_chinese(signed_in(users["owner"]), how="switch")
    assert '<html lang="zh-hans">' in client.get(reverse("key-list")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    html = client.get(reverse("key-list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="en">' in html  # the switch's choice wins over the browser's language


# --- dates and money ------------------------------------------------------------------------------


def test_dates_use_the_zh_hans_formats(site):
    key = site["key"]
    key.created_at = datetime(2026, 3, 7, 9, 5, tzinfo=UTC)
    key.save(update_fields=["created_at"])
    with translation.override("zh-hans"):
        assert formats.get_format("DATE_FORMAT") == "Y年n月j日"
    html = in_chinese(client_as(site, "owner")).get(reverse("key-list")).content.decode()
    assert "创建于 2026年3月7日" in html
    assert "created March 7, 2026" in client_as(site, "owner").get(reverse("key-list")).content.decode()


def test_money_stays_in_us_dollars_with_cents(site):
    tenant, completed = site["tenant"], site["completed"]
    client = in_chinese(client_as(site, "owner"))
    detail = client.get(reverse("task-detail", args=[completed.public_id])).content.decode()
    assert completed.amount_charged == 40_000 and "$0.04" in detail
    usage = client.get(reverse("usage")).content.decode()
    tenant.refresh_from_db()
    assert tenant.balance == 10_000_000 and "$10.00" in usage
    for page in (detail, usage):
        assert "US$" not in page and "¥" not in page and "元" not in page
