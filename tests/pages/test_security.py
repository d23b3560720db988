"""Security findings and their fixes: SSRF through redirects, the sign-in throttle (normalised
names, the guesser's address locked rather than the account, staff unlock), the tenant
switcher's open redirect, CSV formula injection, production headers (HSTS, CSP) and the
gunicorn settings (no Server banner, no signed-link token in the access log)."""

import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts import throttle
from accounts.models import AuditEntry, FailedLogin
from channels import outbound
from channels.canonical import RequestInvalid
from channels.fetch import fetch_image
from tests.simulators.base import Response, Simulator
from videos import usage

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

# --- SSRF: every redirect hop of an image fetch is checked -------------------------------------

PUBLIC = "127.0.0.2"  # stands in for a public web server in these tests


class _Redirector(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path.split("?", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args):
        pass


class InternalService(Simulator):
    """Something on the gateway's loopback the outside must never reach."""

    def setup_routes(self):
        self.route("GET", r"/ok.png", lambda r: Response(200, PNG, {"Content-Type": "image/png"}))


@pytest.fixture
def public_site(settings, monkeypatch):
    """A "public" site at public.test (really 127.0.0.2) that redirects wherever ?to= says;
    rebind.test resolves to 127.0.0.1. Only 127.0.0.2 counts as public."""
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    server = ThreadingHTTPServer((PUBLIC, 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    real_refused, real_resolve = outbound._refused, socket.getaddrinfo
    monkeypatch.setattr(outbound, "_refused", lambda a: a != ipaddress.ip_address(PUBLIC) and real_refused(a))
    names = {"public.test": PUBLIC, "rebind.test": "127.0.0.1"}

    def resolve(host, port, *args, **kwargs):
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        return real_resolve(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield f"http://public.test:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_image_fetch_follows_a_redirect_between_public_addresses(public_site):
    image = fetch_image(f"{public_site}/to?{public_site}/ok.png")
    assert image.data == PNG


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/ok.png", "http://rebind.test:{port}/ok.png"])
def test_image_redirect_to_loopback_is_refused(public_site, target):
    with InternalService() as internal:
        port = internal.server.server_address[1]
        with pytest.raises(RequestInvalid) as info:
            fetch_image(f"{public_site}/to?{target.format(port=port)}")
        assert info.value.code == "image_url_not_allowed"
        assert internal.requests == []


# --- Sign-in throttle ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    """Many sign-ins per test: a cheap hasher (made before ``users`` hashes their passwords)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def attempt(password, username="owner", ip="10.0.0.1", **extra):
    return Client(REMOTE_ADDR=ip, **extra).post(reverse("login"), {"username": username, "password": password})


def test_username_variants_count_as_one_name(users):
    for name in [" owner", "owner ", "\uff4fwner", "owner", "\uff4fwner "]:
        assert attempt("wrong", name).status_code == 200
    assert FailedLogin.objects.filter(username="owner").count() == 5
    response = attempt("pw-owner-123")  # the right password, but this address is locked for this name
    assert response.status_code == 429
    assert throttle.MESSAGE in response.content.decode()


def test_guessing_locks_the_guessers_address_not_the_account(users):
    for _ in range(throttle.PAIR_LIMIT):
        attempt("wrong", ip="203.0.113.9")
    assert attempt("pw-owner-123", ip="203.0.113.9").status_code == 429
    response = attempt("pw-owner-123", ip="10.0.0.1")  # the owner, elsewhere
    assert response.status_code == 302


def test_a_successful_sign_in_clears_its_failures(users):
    for _ in range(throttle.PAIR_LIMIT - 1):
        attempt("wrong")
    assert attempt("pw-owner-123").status_code == 302
    assert not FailedLogin.objects.filter(username="owner").exists()


def test_per_address_cap_uses_the_forwarded_address_behind_a_trusted_proxy(settings, users):
    settings.GATEWAY_TRUST_X_FORWARDED_FOR = True
    proxy = {"ip": "10.0.0.5"}
    attempt("wrong", "someone", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    assert FailedLogin.objects.get().ip == "198.51.100.7"
    for n in range(throttle.ADDRESS_LIMIT - 1):
        throttle.record_failure(f"user{n}", "198.51.100.7")
    assert attempt("pw-owner-123", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 429
    # Another client behind the same proxy is not affected.
    assert attempt("pw-owner-123", HTTP_X_FORWARDED_FOR="198.51.100.8", **proxy).status_code == 302


def test_staff_see_and_clear_a_lock_and_the_audit_log_records_it(users, staff_client, owner):
    for _ in range(throttle.PAIR_LIMIT):
        attempt("wrong", ip="203.0.113.9")
    page = staff_client.get(reverse("staff-lockouts"))
    assert page.status_code == 200
    assert "203.0.113.9" in page.content.decode()
    assert owner.get(reverse("staff-lockouts")).status_code == 404  # not for members

    response = staff_client.post(reverse("staff-lockouts"), {"username": "owner", "ip": "203.0.113.9"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="login.unlocked")
    assert entry.user.username == "operator" and entry.detail["failures"] == throttle.PAIR_LIMIT
    assert attempt("pw-owner-123", ip="203.0.113.9").status_code == 302


def test_staff_clear_an_address_lock(users, staff_client):
    for n in range(throttle.ADDRESS_LIMIT):
        throttle.record_failure(f"user{n}", "203.0.113.10")
    assert "address lock" in staff_client.get(reverse("staff-lockouts")).content.decode()
    staff_client.post(reverse("staff-lockouts"), {"ip": "203.0.113.10"})
    assert AuditEntry.objects.get(action="login.unlocked").target == "address 203.0.113.10"
    assert attempt("pw-owner-123", ip="203.0.113.10").status_code == 302


# --- Tenant switcher: no open redirect ----------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "https:/evil.example", "javascript:alert(1)"],
)
def test_switch_does_not_redirect_off_site(owner, target):
    response = owner.post(reverse("switch-tenant"), {"tenant": "acme", "next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_switch_returns_to_a_page_on_this_site(owner):
    response = owner.post(reverse("switch-tenant"), {"tenant": "acme", "next": "/usage/?period=7d"})
    assert response["Location"] == "/usage/?period=7d"


# --- CSV exports: no formula injection ----------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1", "\uff1d1+1"])
def test_csv_cells_never_start_a_formula(value):
    assert usage._text(value) == f"'{value}"
    assert "".join(usage.csv_rows(["note"], [[usage._text(value)]])).splitlines()[1].lstrip('"').startswith("'")


def test_csv_leaves_plain_text_alone():
    assert usage._text("a cat, on a skateboard") == "a cat, on a skateboard"


# --- Production headers -------------------------------------------------------------------------


def production_settings(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "GATEWAY_", "DJANGO_"))}
    env.update(GATEWAY_MODE="production", SECRET_KEY="x" * 40, ALLOWED_HOSTS="gw.example", **extra)
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SECURE_HSTS_SECONDS, s.CONTENT_SECURITY_POLICY]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_production_mode_turns_on_hsts_and_the_csp():
    hsts, csp = production_settings()
    assert hsts >= 180 * 24 * 3600
    assert csp["DIRECTIVES"]["default-src"] == ["'self'"]
    assert production_settings(SECURE_HSTS_SECONDS="0")[0] == 0


def test_csp_and_hsts_headers_are_sent(settings, users):
    settings.CONTENT_SECURITY_POLICY = settings.CSP_POLICY
    settings.SECURE_HSTS_SECONDS = 31536000
    response = Client().get(reverse("login"), secure=True)
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_csp_header_in_development(users):
    assert "Content-Security-Policy" not in Client().get(reverse("login"))


# --- gunicorn: no Server banner, no token in the access log -------------------------------------


def test_gunicorn_hides_its_banner_and_signed_link_tokens(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "GATEWAY_", "DJANGO_"))}
    env.update(GATEWAY_VAR_DIR=str(tmp_path / "var"))
    log = tmp_path / "access.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--config",
            str(django_settings.BASE_DIR / "config" / "gunicorn_conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(log),
        ],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{url}/login/", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert "server" not in response.headers
        httpx.get(f"{url}/v1/videos/video_abc/content?token=SECRET-SIGNATURE-1&x=1", timeout=10)
        deadline = time.monotonic() + 10
        while "content?" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        text = log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert "/v1/videos/video_abc/content?token=[redacted]&x=1" in text
    assert "SECRET-SIGNATURE-1" not in text
