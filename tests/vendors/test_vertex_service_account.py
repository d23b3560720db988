"""Vertex AI with a service-account key: the gateway obtains access tokens itself (the JWT bearer grant,
RS256, from the key file's ``token_uri``), keeps each until five minutes before it expires, and renews
it; Google refusing the key disables the channel, the token endpoint failing otherwise is retried.
The Vertex simulator is Google's token endpoint too and checks the assertion as Google does."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from channels.adaptors import vertex as vertex_module
from channels.adaptors.base import CallContext, VendorAuthFailed, VendorUnavailable
from channels.adaptors.vertex import adaptor as vertex
from channels.canonical import CanonicalRequest
from channels.models import Channel, Price
from tests.helpers import USD, drive, ledger_sum, signed_in
from tests.simulators.base import Response
from tests.simulators.vertex import VertexSimulator, service_account_key
from videos.models import VideoTask

GA = "veo-3.1-generate-001"
BUCKET = "gs://veo-out/gateway/"
PER_SECOND = 1_000


@pytest.fixture(autouse=True)
def _no_tokens_kept():
    vertex_module._tokens.clear()
    yield
    vertex_module._tokens.clear()


@pytest.fixture
def vsim():
    with VertexSimulator(token="ya29.static-token-not-used", token_ttl=3599) as simulator:
        key_file, public_key = service_account_key(simulator.token_url)
        simulator.service_account = (json.loads(key_file)["client_email"], public_key)
        simulator.key_file = key_file
        yield simulator


def ctx(sim, credentials=None):
    return CallContext(
        base_url=f"{sim.url}/v1/projects/proj-1/locations/us-central1",
        credentials=vertex.parse_credentials(credentials or sim.key_file),
        options={"storage_uri": BUCKET, "storage_base_url": sim.url},
    )


def submit(context):
    request = CanonicalRequest(model=GA, prompt="a fox")
    plan = vertex.checked_plan(request, GA)
    return vertex.submit(context, request, GA, plan)


def grants(sim):
    return sim.calls("POST", "/token")


def test_the_key_file_is_kept_compact_and_checked_when_saved(vsim):
    stored = json.loads(vertex.parse_credentials(vsim.key_file))
    assert set(stored) == {"client_email", "private_key_id", "private_key", "token_uri"}
    assert stored["token_uri"] == vsim.token_url and stored["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    # As a browser's one-line input leaves a pasted file: its line breaks gone, the key's \n escapes kept.
    assert vertex.parse_credentials(vsim.key_file.replace("\n", "")) == vertex.parse_credentials(vsim.key_file)
    document = json.loads(vsim.key_file)
    for broken, words in (
        ("{not json", "not valid JSON"),
        (json.dumps({**document, "type": "authorized_user"}), "not a service-account key"),
        (json.dumps({k: v for k, v in document.items() if k != "private_key"}), "lacks private_key"),
        (
            json.dumps({**document, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}),
            "PEM",
        ),
        (json.dumps({**document, "token_uri": "file:///etc/passwd"}), "token_uri"),
    ):
        with pytest.raises(ValueError, match=words) as refused:
            vertex.parse_credentials(broken)
        assert "PRIVATE KEY" not in str(refused.value)


def test_one_grant_serves_submit_polls_and_download(vsim):
    context = ctx(vsim)
    submission = submit(context)
    assert len(grants(vsim)) == 1
    issued = vsim.calls("POST", ":predictLongRunning")[-1].headers["authorization"]
    assert issued.startswith("Bearer ya29.sim-") and issued != f"Bearer {vsim.token}"
    for _ in range(3):
        result = vertex.poll(context, vertex_ref(submission))
    source = vertex.content(context, vertex_ref(submission, result.result_url))
    assert source.headers["Authorization"] == issued
    assert len(grants(vsim)) == 1
    assert "service-account key was accepted" in vertex.check(context)


def vertex_ref(submission, result_url=None):
    from channels.adaptors.base import TaskRef

    return TaskRef(submission.vendor_task_id, GA, submission.state, result_url=result_url)


def test_a_token_is_renewed_five_minutes_before_it_expires(vsim):
    context = ctx(vsim)
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        submit(context)
        traveller.shift(timedelta(seconds=3599 - 300 - 5))
        submit(context)
        assert len(grants(vsim)) == 1  # still a few seconds more than five minutes to go
        traveller.shift(timedelta(seconds=10))
        submit(context)
        assert len(grants(vsim)) == 2
        first, _, renewed = (call.headers["authorization"] for call in vsim.calls("POST", ":predictLongRunning"))
        assert renewed != first
        traveller.shift(timedelta(seconds=600))  # the first token has expired at Vertex: the renewed one works
        submit(context)
        assert len(grants(vsim)) == 2


def test_each_key_has_its_own_token(vsim):
    other_file, _ = service_account_key(vsim.token_url, email="other@proj-1.iam.gserviceaccount.com")
    submit(ctx(vsim))
    with pytest.raises(VendorAuthFailed, match="other@proj-1"):  # the simulator knows one account only
        submit(ctx(vsim, other_file))
    assert len(grants(vsim)) == 2


def test_google_refusing_the_key_is_a_rejected_credential(vsim):
    forged, _ = service_account_key(vsim.token_url, seed="forged")  # the right account, another key
    with pytest.raises(VendorAuthFailed, match="Invalid JWT Signature") as refused:
        submit(ctx(vsim, forged))
    assert refused.value.code == "invalid_grant" and refused.value.http_status == 400
    assert vsim.calls("POST", ":predictLongRunning") == []


@pytest.mark.parametrize(
    "answer",
    [
        Response(503, {"error": "backend_error"}),
        Response(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}),
        Response(200, {"token_type": "Bearer"}),
        Response(429, {"error": "rate_limit_exceeded"}),
    ],
)
def test_the_token_endpoint_failing_otherwise_is_unavailable_not_a_refusal(vsim, answer):
    vsim.serve_next(answer, path_contains="/token")
    with pytest.raises(VendorUnavailable):
        submit(ctx(vsim))
    assert vsim.calls("POST", ":predictLongRunning") == []
    submit(ctx(vsim))  # the next call fetches a token and goes through
    assert len(vsim.calls("POST", ":predictLongRunning")) == 1


# --- end to end ------------------------------------------------------------------------------------


def make_channel(vsim, key_file):
    """A Vertex channel on the simulator with ``key_file`` as its credentials, serving GA."""
    channel = Channel(
        name="veo-vertex",
        vendor="vertex",
        base_url=f"{vsim.url}/v1/projects/proj-1/locations/us-central1",
        served_models=[GA],
        options={"storage_uri": BUCKET, "storage_base_url": vsim.url},
    )
    channel.credentials = vertex.parse_credentials(key_file)
    channel.save()
    Price.objects.create(model=GA, per_second=PER_SECOND)
    return channel


@pytest.fixture
def channel(db, vsim):
    return make_channel(vsim, vsim.key_file)


@pytest.mark.django_db
def test_a_video_end_to_end_with_a_service_account(api, tenant, channel, vsim):
    response = api.post("/v1/videos", {"model": GA, "prompt": "a fox", "seconds": "8"}, format="json")
    assert response.status_code == 200, response.content
    task = drive(VideoTask.objects.get(public_id=response.json()["id"]), times=12)
    assert task.status == "completed", (task.error_code, task.error_message)
    assert api.get(f"/v1/videos/{task.public_id}/content").status_code == 200
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD - 8 * PER_SECOND and ledger_sum(tenant) == tenant.balance
    assert len(grants(vsim)) == 1


@pytest.mark.django_db
def test_a_refused_key_disables_the_channel_and_releases_the_hold(api, tenant, vsim):
    forged, _ = service_account_key(vsim.token_url, seed="forged")
    channel = make_channel(vsim, forged)
    response = api.post("/v1/videos", {"model": GA, "prompt": "a fox", "seconds": "8"}, format="json")
    assert response.status_code >= 500, response.content
    channel.refresh_from_db()
    assert channel.status == Channel.Status.AUTO_DISABLED and "refused the service-account key" in channel.last_error
    tenant.refresh_from_db()
    assert tenant.balance == 10 * USD and ledger_sum(tenant) == tenant.balance


@pytest.mark.django_db
def test_the_channel_form_takes_a_pasted_key_file_and_never_shows_it(vsim):
    staff = get_user_model().objects.create_user("operator", password="pw-operator-123", is_staff=True)
    page = signed_in(staff)
    form = {
        "name": "veo-vertex",
        "base_url": f"{vsim.url}/v1/projects/proj-1/locations/us-central1",
        "served_models": GA,
        "model_mapping": "",
        "priority": "0",
        "weight": "1",
        "options": json.dumps({"storage_uri": BUCKET}),
        # As a browser's one-line input sends a pasted file.
        "credential_service_account_key_or_token": vsim.key_file.replace("\n", ""),
    }
    response = page.post("/staff/channels/new?vendor=vertex", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    channel = Channel.objects.get(name="veo-vertex")
    assert json.loads(channel.credentials)["client_email"].startswith("veo@")
    edit = page.get(f"/staff/channels/{channel.pk}/").content.decode()
    assert "Service-account key (JSON) or access token" in edit
    assert "PRIVATE KEY" not in edit and "veo@proj-1" not in edit


def test_a_token_endpoint_that_does_not_answer_is_unavailable_not_a_lost_submit(vsim, monkeypatch):
    """A timeout at the token step is not "the create may have reached Vertex": nothing was sent there."""
    monkeypatch.setattr(vertex_module, "TOKEN_TIMEOUT", 0.3)
    vsim.hang_next(2, path_contains="/token")
    with pytest.raises(VendorUnavailable, match="did not answer"):
        submit(ctx(vsim))
    assert vsim.calls("POST", ":predictLongRunning") == []
