"""A real `station serve --sim` subprocess and headless Debian Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.devices import device_env
from tests.helpers.servers import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("ui")
    port = free_port()
    # a scan on two loaded cores: the simulated board's replies may wait for a CPU
    proc = start_server(tmp / "data", port, "--sim", env=device_env())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Per module: Playwright's sync API keeps an event loop marked running in this thread,
    and the next module on the same worker may call asyncio.run (the fleet tests do)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
