"""Operator commands and configuration: apply, production-mode refusal."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Membership, Tenant
from channels.models import Channel, Price

pytestmark = pytest.mark.django_db

CONFIG = {
    "tenants": [{"name": "acme", "balance": 100_000_000}],
    "users": [
        {"username": "ops", "password": "s3cret-pass", "staff": True, "tenants": [{"tenant": "acme", "role": "owner"}]}
    ],
    "channels": [
        {
            "name": "sora-main",
            "vendor": "openai",
            "base_url": "http://127.0.0.1:9000",
            "credentials": "sk-up",
            "models": ["sora-2"],
            "model_mapping": {"sora-2": "sora-2"},
            "priority": 0,
            "weight": 1,
            "enabled": True,
        }
    ],
    "prices": [{"model": "sora-2", "per_second": 100_000, "per_video": 0, "resolution_multipliers": {"1080P": 1.5}}],
}


def apply(tmp_path, config):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    call_command("apply", str(path))


def test_apply_creates_and_is_idempotent(tmp_path):
    apply(tmp_path, CONFIG)
    apply(tmp_path, CONFIG)
    tenant = Tenant.objects.get(name="acme")
    assert tenant.balance == 100_000_000 and tenant.ledger.count() == 1
    channel = Channel.objects.get(name="sora-main")
    assert channel.credentials == "sk-up" and channel.served_models == ["sora-2"]
    assert channel.status == Channel.Status.ENABLED
    price = Price.objects.get(model="sora-2")
    assert price.per_second == 100_000 and price.resolution_multipliers == {"1080p": "1.5"}
    assert Membership.objects.get(user__username="ops").role == "owner"
    assert Channel.objects.count() == 1 and Price.objects.count() == 1


def test_apply_updates_in_place_and_keeps_balance(tmp_path):
    apply(tmp_path, CONFIG)
    changed = json.loads(json.dumps(CONFIG))
    changed["tenants"][0]["balance"] = 5
    changed["channels"][0].update(priority=7, enabled=False)
    del changed["channels"][0]["credentials"]
    apply(tmp_path, changed)
    channel = Channel.objects.get(name="sora-main")
    assert channel.priority == 7 and channel.status == Channel.Status.DISABLED
    assert channel.credentials == "sk-up"  # omitted credentials are kept
    assert Tenant.objects.get(name="acme").balance == 100_000_000


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"channels": [{"name": "x", "vendor": "nope", "credentials": "k"}]}, "Unknown vendor"),
        ({"channels": [{"name": "x", "vendor": "openai"}]}, "credentials"),
        ({"prices": [{"model": "m", "per_second": -1}]}, "whole number"),
        ({"prices": [{"model": "m", "per_second": 1.5}]}, "whole number"),
        ({"tenant": []}, "Unknown sections"),
        ({"users": [{"username": "u", "tenants": [{"tenant": "ghost"}]}]}, "does not exist"),
    ],
)
def test_apply_refuses_bad_files_and_changes_nothing(tmp_path, config, message):
    with pytest.raises(CommandError, match=message):
        apply(tmp_path, {"tenants": [{"name": "t1", "balance": 1}], **config})
    assert not Tenant.objects.exists()


def test_apply_reports_missing_file(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("apply", str(tmp_path / "missing.json"))


def test_demo_file_applies(db):
    call_command("apply", str(settings.BASE_DIR / "config" / "demo.json"))
    assert Channel.objects.get(name="sandbox").vendor == "sandbox"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"GATEWAY_MODE": "production"}, "SECRET_KEY is missing"),
        ({"GATEWAY_MODE": "production", "SECRET_KEY": "x" * 40, "DEBUG": "true", "ALLOWED_HOSTS": "a"}, "DEBUG is on"),
        ({"GATEWAY_MODE": "production", "SECRET_KEY": "x" * 40}, "ALLOWED_HOSTS is empty"),
    ],
)
def test_production_mode_refuses_unsafe_settings(env, fragment):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Refusing to start in production mode" in result.stderr and fragment in result.stderr


def test_production_mode_starts_with_safe_settings():
    env = {**os.environ, "GATEWAY_MODE": "production", "SECRET_KEY": "k" * 50, "ALLOWED_HOSTS": "gw.example"}
    env.pop("DEBUG", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def redis_url():
    """A private redis-server for this test (the machine's own may be absent or busy)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_redis_broker_setting_reaches_a_real_redis(redis_url):
    code = (
        "from django.conf import settings; from django_q.brokers import get_broker; "
        "b = get_broker(); assert 'redis' in settings.Q_CLUSTER and 'orm' not in settings.Q_CLUSTER; "
        "print(type(b).__name__, b.ping())"
    )
    env = {**os.environ, "GATEWAY_QUEUE": "redis", "REDIS_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Redis True"
