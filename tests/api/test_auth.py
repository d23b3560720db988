"""sk- keys: hashed at rest, shown once; 401 for missing/wrong/expired/revoked, 403 for limits."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts import services as money
from accounts.models import ApiKey
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def test_plaintext_is_never_stored(tenant):
    api_key, plaintext = money.issue_key(tenant, name="ci")
    assert plaintext.startswith("sk-") and len(plaintext) == 3 + 12 + 36
    row = ApiKey.objects.get(pk=api_key.pk)
    stored = " ".join(str(value) for value in row.__dict__.values())
    assert plaintext[3 + 12 :] not in stored
    assert row.secret_hash != plaintext[15:] and len(row.secret_hash) == 64
    assert row.masked == f"sk-{plaintext[3:7]}...{plaintext[-4:]}"
    assert money.find_key(plaintext).pk == api_key.pk


def test_wrong_secret_looks_like_unknown_key(key):
    tampered = key.plaintext[:-1] + ("A" if key.plaintext[-1] != "A" else "B")
    assert money.find_key(tampered) is None
    assert money.find_key("sk-" + "x" * 48) is None
    assert money.find_key("sk-short") is None
    assert money.find_key("") is None


def _status(client, path="/v1/videos"):
    response = client.get(path)
    return response.status_code, response


def test_missing_key_is_401_with_www_authenticate(db):
    status, response = _status(client_for())
    assert status == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "missing_api_key"
    # the unified dialect answers in its own shape
    body = client_for().get("/v1/video/generations/video_x").json()
    assert body["code"] == "missing_api_key" and body["type"] == "authentication_error"


@pytest.mark.parametrize("header", ["Bearer sk-wrong", "Basic abc", "Bearer", "sk-nothing"])
def test_bad_keys_are_401(db, header):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=header)
    status, response = _status(client)
    assert status == 401, header
    assert response.json()["error"]["type"] == "authentication_error"


def test_expired_key_is_401(key):
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    status, response = _status(client_for(key))
    assert status == 401 and response.json()["error"]["code"] == "key_expired"


def test_revoked_key_is_401_and_keeps_its_history(key, sandbox):
    client = client_for(key)
    video = client.post("/v1/videos", {"model": "sandbox-video", "prompt": "x"}, format="json").json()
    money.revoke_key(key)
    status, response = _status(client)
    assert status == 401 and response.json()["error"]["code"] == "key_revoked"
    key.refresh_from_db()
    assert key.tasks.get().public_id == video["id"]
    assert key.tenant.ledger.filter(api_key=key).exists()


def test_model_allowlist_is_403(tenant, sandbox):
    api_key, plaintext = money.issue_key(tenant, allowed_models=["sora-2"])
    api_key.plaintext = plaintext
    response = client_for(api_key).post("/v1/videos", {"model": "sandbox-video", "prompt": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"
    models = client_for(api_key).get("/v1/models").json()["data"]
    assert [m["id"] for m in models] == []  # sora-2 is not served here; sandbox models are not allowed


def test_ip_allowlist(tenant, sandbox):
    api_key, plaintext = money.issue_key(tenant, allowed_ips=["10.0.0.0/8"])
    api_key.plaintext = plaintext
    response = client_for(api_key).get("/v1/models", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 403 and response.json()["error"]["code"] == "ip_not_allowed"
    assert client_for(api_key).get("/v1/models", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_models_lists_what_the_key_may_use(api, sandbox):
    data = api.get("/v1/models").json()["data"]
    assert [m["id"] for m in data] == ["sandbox-fail", "sandbox-video"]
    assert data[0]["object"] == "model" and data[0]["owned_by"] == "sandbox"


def test_last_used_is_recorded(key, sandbox):
    client_for(key).get("/v1/models")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_issue_key_command_prints_only_the_key(tenant, capsys):
    call_command("issue_key", "acme", "--name", "cli", "--models", "sandbox-video,sora-2")
    out = capsys.readouterr().out.strip()
    assert out.startswith("sk-") and "\n" not in out
    api_key = money.find_key(out)
    assert api_key.name == "cli" and api_key.allowed_models == ["sandbox-video", "sora-2"]
