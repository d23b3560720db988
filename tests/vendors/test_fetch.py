"""The gateway's own downloads of client image URLs: SSRF guard, size cap, content type."""

import pytest

from channels.canonical import RequestInvalid
from channels.fetch import check_public_url, fetch_image
from tests.simulators.base import Response, Simulator

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class ImageHost(Simulator):
    def setup_routes(self):
        self.route("GET", r"/ok.png", lambda r: Response(200, PNG, {"Content-Type": "image/png"}))
        self.route("GET", r"/page", lambda r: Response(200, b"<html></html>", {"Content-Type": "text/html"}))
        self.route("GET", r"/big.png", lambda r: Response(200, PNG + b"\0" * 4096, {"Content-Type": "image/png"}))
        self.route("GET", r"/missing.png", lambda r: Response(404, b"no"))
        self.route("GET", r"/hop", lambda r: Response(302, b"", {"Location": "/ok.png"}))


@pytest.fixture
def host():
    with ImageHost() as simulator:
        yield simulator


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.1/x.png",
        "http://169.254.169.254/latest",
        "http://[::1]/x.png",
        "http://0.0.0.0/x.png",
        "http://224.0.0.1/x.png",
    ],
)
def test_private_and_local_addresses_are_refused(settings, url):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    with pytest.raises(RequestInvalid) as info:
        check_public_url(url)
    assert info.value.code == "image_url_not_allowed"


def test_public_addresses_and_bad_schemes(settings):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    check_public_url("http://8.8.8.8/x.png")  # an IP literal resolves without the network
    with pytest.raises(RequestInvalid):
        check_public_url("file:///etc/passwd")
    with pytest.raises(RequestInvalid):
        check_public_url("ftp://8.8.8.8/x.png")


def test_loopback_is_not_fetched_by_default(settings, host):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = False
    with pytest.raises(RequestInvalid):
        fetch_image(f"{host.url}/ok.png")
    assert host.requests == []


def test_fetch_checks_type_size_status_and_follows_redirects(settings, host):
    settings.GATEWAY_ALLOW_PRIVATE_URLS = True
    image = fetch_image(f"{host.url}/hop")
    assert image.data == PNG and image.mime_type == "image/png"
    with pytest.raises(RequestInvalid, match="not an image"):
        fetch_image(f"{host.url}/page")
    with pytest.raises(RequestInvalid, match="HTTP 404"):
        fetch_image(f"{host.url}/missing.png")
    settings.GATEWAY_MAX_IMAGE_BYTES = 1024
    with pytest.raises(RequestInvalid) as info:
        fetch_image(f"{host.url}/big.png")
    assert info.value.code == "image_too_large"
