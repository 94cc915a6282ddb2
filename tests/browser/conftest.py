"""Browser fixtures: Debian's chromium, driven by Playwright, against a real `vidpulse serve`.

Every page records the URL of each request and WebSocket it opens; when the test ends, the
fixture checks that none left the server's origin and that no script error was thrown.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.support.servers import ROOT, Server, dispose, need, new_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
# Fast progress events, so that even a short clip moves the bar through many values.
SERVER_SETTINGS: dict[str, Any] = {"PROGRESS_HZ": 25}

# Installed before the page's own scripts: remembers every change of a bar's value, a card's
# state, queue position or transport, even those that come and go between two polls of the test.
RECORDER = """
window.__seen = [];
new MutationObserver((records) => {
  for (const record of records) {
    const card = record.target.closest(".card");
    window.__seen.push({
      file: card?.querySelector("h3")?.textContent, meter: record.target.dataset.meter ?? null,
      attr: record.attributeName, value: record.target.getAttribute(record.attributeName),
    });
  }
}).observe(document, {subtree: true, attributes: true,
                      attributeFilter: ["aria-valuenow", "data-state", "data-queue-position", "data-transport"]});
"""


@dataclass
class Demo:
    """The demo page of one server, with what the page asked for."""

    page: Page
    server: Server
    picked: Path  # where upload() puts the files it picks, under the names it gives them
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self) -> Demo:
        self.page.goto(f"{self.server.url}/")
        return self

    def upload(self, *files: tuple[str, Path]) -> None:
        """Pick files in the file input, each under its own name (a link: a 20 MB buffer takes Playwright 15 s)."""
        paths = []
        for name, source in files:
            path = self.picked / name
            if not path.exists():
                try:
                    path.hardlink_to(source)
                except OSError:
                    shutil.copyfile(source, path)
            paths.append(path)
        self.page.locator("#file-input").set_input_files(paths)

    def set_options(self, **options: Any) -> None:
        panel = self.page.locator("#options-panel")
        if panel.get_attribute("open") is None:
            panel.locator("summary").click()
        for name, value in options.items():
            field_ = self.page.locator(f"#options-form [name={name}]")
            if isinstance(value, bool):
                field_.set_checked(value)
            elif field_.evaluate("element => element.tagName") == "SELECT":
                field_.select_option(str(value))
            else:
                field_.fill(str(value))

    def card(self, filename: str) -> Locator:
        return self.page.locator(".card").filter(has=self.page.get_by_role("heading", name=filename, exact=True))

    def seen(self, filename: str, attr: str, meter: str | None = None) -> list[str]:
        """Every value `attr` took on the card of `filename` (and on its `meter` bar) since the page loaded."""
        records = self.page.evaluate("window.__seen")
        return [r["value"] for r in records
                if r["file"] == filename and r["attr"] == attr and (meter is None or r["meter"] == meter)]

    def foreign_requests(self) -> list[str]:
        origin = urlsplit(self.server.url).netloc
        return [url for url in self.requests
                if urlsplit(url).scheme not in ("http", "ws") or urlsplit(url).netloc != origin]


def wait_loaded(images: Locator) -> None:
    """Wait until every image matched has its picture."""
    expect(images.first).to_be_visible()
    images.first.page.wait_for_function(
        "(els) => els.every((el) => el.complete && el.naturalWidth > 0)",
        arg=images.element_handles())


def updating_screenshots() -> bool:
    return os.environ.get("VIDPULSE_UPDATE_SCREENSHOT") == "1"


def save_screenshot(demo: Demo, tmp_path: Path, name: str) -> None:
    """The whole page as docs/`name`: committed, so rewritten only when asked (or missing), and a test
    run leaves the tree clean."""
    shot = tmp_path / name
    demo.page.screenshot(path=shot, full_page=True)
    target = ROOT / "docs" / name
    if updating_screenshots() or not target.exists():
        Image.open(shot).quantize(256, dither=Image.Dither.NONE).save(target, optimize=True)  # a quarter the size


def wait_timeline(card: Locator) -> Locator:
    """Wait until the card's timeline is drawn (from frames.csv); returns its figure."""
    figure = card.locator("figure.timeline")
    expect(card.get_by_role("img", name=re.compile("^Timeline"))).to_be_visible()
    expect(figure).not_to_have_attribute("aria-busy", "true")
    return figure


def running_card(demo: Demo, filename: str, source: Path) -> Locator:
    """Upload `source` with render on (a job that outlasts what the test does next, however fast the
    machine) and wait until its processing bar moves; returns the card."""
    demo.set_options(render=True)
    demo.upload((filename, source))
    card = demo.card(filename)
    expect(card).to_have_attribute("data-state", "running")
    expect(card.locator("[data-meter=processing]")).not_to_have_attribute("aria-valuenow", "0")
    return card


def throttle_uploads(page: Page, bytes_per_s: int) -> None:
    """Chromium's own network throttling, so that an upload is still under way when the test acts."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": bytes_per_s})


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    need("chromium", Path(CHROMIUM).exists())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that do not care about each other's sessions (a start takes seconds)."""
    server = new_server(tmp_path_factory.mktemp("demo"), **SERVER_SETTINGS)
    yield server
    dispose(server)


@pytest.fixture
def open_demo(browser: Browser, start_server: Callable[..., Server],
              tmp_path: Path) -> Iterator[Callable[..., Demo]]:
    """`open_demo(server)` or `open_demo(API_KEYS="k1")` (a new server): the page in a fresh profile.

    `init_script` runs in the page before its own scripts, e.g. to take an API away."""
    demos: list[tuple[Demo, Any]] = []

    def open_(server: Server | None = None, init_script: str | None = None, **settings: Any) -> Demo:
        server = server or start_server(**{**SERVER_SETTINGS, **settings})
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.set_default_timeout(20_000)
        page = context.new_page()
        demo = Demo(page, server, tmp_path)
        page.add_init_script(RECORDER)
        if init_script:
            page.add_init_script(init_script)
        page.on("request", lambda request: demo.requests.append(request.url))
        page.on("websocket", lambda ws: demo.requests.append(ws.url))
        page.on("pageerror", lambda error: demo.errors.append(str(error)))
        demos.append((demo, context))
        return demo.open()

    yield open_
    for demo, context in demos:
        context.close()
        assert not demo.foreign_requests(), f"requests outside {demo.server.url}: {demo.foreign_requests()}"
        assert not demo.errors, f"script errors: {demo.errors}"


@pytest.fixture
def demo(open_demo: Callable[..., Demo], demo_server: Server) -> Demo:
    return open_demo(demo_server)
