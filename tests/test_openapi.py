"""The contract: /openapi.json documents every client route, /docs serves it offline, and a live gateway
answers what the document says (schemathesis, every operation, with a key)."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import URLPattern, URLResolver

from tests.helpers import free_port, fresh_install_env, start_serve
from videos.api import urls as api_urls


@pytest.fixture
def live_gateway(tmp_path):
    """``manage.py serve --demo`` on SQLite in a temp dir (as tests/test_serve.py), its output to a file:
    a pipe nobody reads would fill with access-log lines and stall the server mid-run."""
    env = fresh_install_env(tmp_path)
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("w") as output:
        process = start_serve(env, port, stdout=output)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"serve did not start:\n{log.read_text()[-5000:]}")
            time.sleep(0.5)
        key = subprocess.run(
            [sys.executable, "manage.py", "issue_key", "demo"],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split()[-1]
        yield url, key
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _answers(url):
    try:
        return httpx.get(f"{url}/v1/models", timeout=2).status_code == 401
    except httpx.HTTPError:
        return False


def documented():
    response = Client().get("/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def client_routes():
    """Every ``path()`` of videos/api/urls.py as an OpenAPI path, with its view; the regex catch-alls
    (404 in the dialect's shape for unknown paths) are no routes."""
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern) and not isinstance(pattern, URLResolver)
        route = getattr(pattern.pattern, "_route", None)
        if route is None:
            continue
        yield "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route), pattern.callback


def test_document_covers_every_client_route():
    document = documented()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    routes = list(client_routes())
    assert len(routes) >= 30
    for route, view in routes:
        assert route in paths, f"{route} is missing from /openapi.json"
        cls = getattr(view, "cls", None)
        methods = [m for m in ("get", "post", "delete", "put", "patch") if cls and hasattr(cls, m)] or ["post"]
        for method in methods:
            assert method in paths[route], f"{method.upper()} {route} is missing from /openapi.json"
    assert not [path for path in paths if path not in {route for route, _ in routes}], "a path no route serves"


def test_document_names_each_dialects_error_shape_and_keyless_callback():
    document = documented()
    paths = document["paths"]

    def error_schema(path, method):
        return paths[path][method]["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]

    assert error_schema("/v1/videos", "post").endswith("/OpenAIError")
    assert error_schema("/v1/video/generations", "post").endswith("/UnifiedError")
    assert error_schema("/kling/v1/videos/text2video", "post").endswith("/KlingError")
    assert error_schema("/api/v1/tasks/{task_id}", "get").endswith("/DashScopeError")
    assert error_schema("/jimeng/", "post").endswith("/JimengError")
    assert error_schema("/vidu/ent/v2/tasks/{task_id}/cancel", "post").endswith("/ViduError")
    create = paths["/v1/videos"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(create)
    assert paths["/callbacks/{task_id}/{token}"]["post"]["security"] == []
    assert paths["/v1/videos"]["post"]["security"]


def test_create_bodies_document_exactly_the_fields_the_gateway_reads():
    """Any other field is a 400 unknown_parameter: the document says additionalProperties false and
    lists every name (aliases included) that parsing accepts."""
    from videos.api.parsing import BODY_FIELDS

    schemas = documented()["components"]["schemas"]
    for name, own in (("OpenAIVideoCreate", {"input_reference"}), ("UnifiedGenerationCreate", {"input_reference"})):
        schema = schemas[name]
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == BODY_FIELDS | own, name


def test_docs_page_works_offline():
    page = Client().get("/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
    script = Client().get("/docs?script=")
    assert script.status_code == 200 and "/openapi.json" in script.content.decode()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


# Every check, but those tests/schemathesis.toml turns off (and says why).
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="runs once, in the SQLite run")
def test_live_gateway_conforms_to_its_document(live_gateway, tmp_path):
    url, key = live_gateway
    result = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color"),
            *("run", f"{url}/openapi.json", "--url", url, "--header", f"Authorization: Bearer {key}"),
            # The coverage phase is left out: its case generator fails intermittently inside Hypothesis
            # ("Inconsistent results") on its own, whatever the server answers.
            *("--phases", "examples,fuzzing", "--max-examples", "8"),
            "--generation-deterministic",  # the same cases every run (no seed, no example database)
            *("--workers", "2", "--request-timeout", "30"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, _failures(result.stdout) + result.stderr[-3000:]


def _failures(output):
    """schemathesis's FAILURES and SUMMARY sections (its ERRORS section holds Hypothesis tracebacks)."""
    sections = re.split(r"\n(?==+ [A-Z ]+ =+\n)", output)
    kept = [section for section in sections if re.match(r"=+ (FAILURES|SUMMARY) =+", section)]
    return "\n".join(kept)[-20000:] or output[-20000:]
