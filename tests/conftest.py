"""Shared fixtures: test settings, two tenants with keys and members, a sandbox channel, prices,
API clients, the Sora simulator and a background poller. Plain helpers are in tests/helpers.py."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from accounts import services as money
from accounts.models import Membership
from channels.models import Channel, Price
from tests.helpers import USD, client_for, make_tenant, poll_horizon
from tests.simulators.kling import KlingSimulator
from tests.simulators.openai import OpenAISimulator
from videos import services


@pytest.fixture(autouse=True)
def _gateway_settings(settings, tmp_path):
    settings.GATEWAY_SYNC_TASKS = True
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GATEWAY_UPSTREAM_TIMEOUT = 5
    settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT = 2
    settings.GATEWAY_SUBMIT_TIMEOUT = 5
    settings.GATEWAY_DEFAULT_VIDEO_MODEL = "sora-2"  # the `sora` fixture's; a create may leave `model` out


@pytest.fixture
def tenant(db):
    return make_tenant("acme", 10 * USD)


@pytest.fixture
def other_tenant(db):
    return make_tenant("globex", 10 * USD)


@pytest.fixture
def users(tenant, other_tenant):
    User = get_user_model()
    owner = User.objects.create_user("owner", password="pw-owner-123")
    reader = User.objects.create_user("reader", password="pw-reader-123")
    outsider = User.objects.create_user("outsider", password="pw-outsider-123")
    Membership.objects.create(tenant=tenant, user=owner, role=Membership.Role.OWNER)
    Membership.objects.create(tenant=tenant, user=reader, role=Membership.Role.READ_ONLY)
    Membership.objects.create(tenant=other_tenant, user=outsider, role=Membership.Role.OWNER)
    return {"owner": owner, "reader": reader, "outsider": outsider}


@pytest.fixture
def key(tenant):
    api_key, plaintext = money.issue_key(tenant, name="test")
    api_key.plaintext = plaintext
    return api_key


@pytest.fixture
def other_key(other_tenant):
    api_key, plaintext = money.issue_key(other_tenant, name="other")
    api_key.plaintext = plaintext
    return api_key


@pytest.fixture
def api(key):
    return client_for(key)


@pytest.fixture
def other_api(other_key):
    return client_for(other_key)


@pytest.fixture
def sandbox(db):
    channel = Channel(
        name="sandbox", vendor="sandbox", served_models=["sandbox-video", "sandbox-fail"], options={"delay": 4}
    )
    channel.save()
    Price.objects.create(model="sandbox-video", per_second=10_000)
    Price.objects.create(model="sandbox-fail", per_second=10_000)
    return channel


@pytest.fixture
def openai_sim():
    with OpenAISimulator(api_key="sk-upstream-test") as simulator:
        yield simulator


@pytest.fixture
def sora(db, openai_sim):
    channel = Channel(
        name="sora-main", vendor="openai", base_url=openai_sim.url, served_models=["sora-2", "sora-2-pro"]
    )
    channel.credentials = "sk-upstream-test"
    channel.save()
    Price.objects.create(model="sora-2", per_second=100_000)
    Price.objects.create(model="sora-2-pro", per_second=300_000, resolution_multipliers={"1080p": "1.5"})
    channel.simulator = openai_sim
    return channel


@pytest.fixture
def poller():
    """The worker's poll loop in a thread, looking ``poll_horizon()`` ahead."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            services.poll_once(now=timezone.now() + poll_horizon())
            stop.wait(0.2)
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


@pytest.fixture
def kling(db):
    """A Kling channel (AK|SK) on a Kling simulator, serving kling-v1 at 10,000 units a second;
    ``kling.simulator`` is the simulator."""
    with KlingSimulator(access_key="ak_test", secret_key="sk_test") as simulator:
        channel = Channel(name="kling-main", vendor="kling", base_url=simulator.url, served_models=["kling-v1"])
        channel.credentials = "ak_test|sk_test"
        channel.save()
        Price.objects.create(model="kling-v1", per_second=10_000)
        channel.simulator = simulator
        yield channel
