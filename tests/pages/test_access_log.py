"""gunicorn's access log (config/gunicorn_conf.py): token values hidden in whatever atom the log
format reads, redacted only as they are read (tests/pages/test_security.py runs gunicorn itself)."""

import io
import logging
from datetime import timedelta

from gunicorn.config import Config
from gunicorn.glogging import Logger

from config import gunicorn_conf

FORMAT = '%(h)s "%(r)s" %(s)s "%(f)s" "%(a)s" %(q)s %({raw_uri}e)s %({Referer}i)s %({location}o)s %(U)s %(missing)s'


class Response:
    status = "302 Found"
    sent = 0
    headers = [("Location", "/v1/videos/video_x/content?token=LOCATION&b=1")]


class Request:
    headers = [("REFERER", 'https://app/?a=1&Token=REFERRER"x'), ("USER-AGENT", 'sdk "1.0" token=agent')]


ENVIRON = {
    "REMOTE_ADDR": "127.0.0.1",
    "REQUEST_METHOD": "GET",
    "RAW_URI": '/v1/videos/video_x/content?token=SECRET"1&x=1',
    "SERVER_PROTOCOL": "HTTP/1.1",
    "PATH_INFO": "/v1/videos/video_x/content",
    "QUERY_STRING": 'token=SECRET"1&x=1',
    "HTTP_REFERER": 'https://app/?a=1&Token=REFERRER"x',
    "HTTP_USER_AGENT": 'sdk "1.0" token=agent',
}


def access_line(logger_class):
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", FORMAT)
    logger = logger_class(config)
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]
    logger.access(Response, Request, ENVIRON, timedelta(0))
    return stream.getvalue().strip()


def test_every_atom_read_has_its_token_hidden_and_its_quotes_escaped():
    line = access_line(gunicorn_conf.RedactingLogger)
    for secret in ("SECRET", "REFERRER", "LOCATION"):
        assert secret not in line
    assert line == (
        '127.0.0.1 "GET /v1/videos/video_x/content?token=[redacted]\\"1&x=1 HTTP/1.1" 302 '
        '"https://app/?a=1&Token=[redacted]\\"x" "sdk \\"1.0\\" token=agent" token=[redacted]\\"1&x=1 '
        '/v1/videos/video_x/content?token=[redacted]\\"1&x=1 https://app/?a=1&Token=[redacted]\\"x '
        "/v1/videos/video_x/content?token=[redacted]&b=1 /v1/videos/video_x/content -"
    )


def test_a_line_without_tokens_is_gunicorns_own():
    clean = {**ENVIRON, "RAW_URI": "/v1/videos", "QUERY_STRING": "", "HTTP_REFERER": "-"}

    def line(logger_class):
        config = Config()
        config.set("accesslog", "-")
        logger = logger_class(config)
        stream = io.StringIO()
        logger.access_log.handlers = [logging.StreamHandler(stream)]
        logger.access(Response, Request, clean, timedelta(0))
        return stream.getvalue().split("]", 1)[1]  # after the time

    assert line(gunicorn_conf.RedactingLogger) == line(Logger)
