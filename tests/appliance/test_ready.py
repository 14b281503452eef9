"""The kiosk's wait for the server: any HTTP answer below 500 counts, a dead port does not."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from station.appliance.ready import answers, main, wait_ready


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        # the desk redirects to the login page; /broken stands for a server that is failing
        if self.path == "/broken":
            self.send_response(503)
        else:
            self.send_response(303)
            self.send_header("Location", "/login" if self.path == "/" else "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet: the test output is the asserts."""


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_a_server_that_answers_is_ready(server: str) -> None:
    assert answers(server + "/")
    assert wait_ready(server + "/", timeout_s=30)
    assert main([server + "/", "--timeout", "30"]) == 0


def test_a_failing_server_is_not_ready(server: str) -> None:
    assert not answers(server + "/broken")


def test_nothing_listening_ends_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    url = _dead_url()
    assert not wait_ready(url, timeout_s=0)
    assert main([url, "--timeout", "0"]) == 1
    assert f"did not answer at {url}" in capsys.readouterr().err
