"""A real browser end to end: the signaling example's pages in headless Chromium, TURN only.

coturn runs on loopback (tests/coturn.py, verbose so that its log names every
allocation); the example signaling server mints credentials for it through an
in-process FakeTurnixServer. Headless Chromium opens /receiver.html and
/sender.html in one room: each page fetches POST /ice, signals over /ws and
builds its RTCPeerConnection with the configuration it was served and
`iceTransportPolicy: "relay"`. The pages publish their state in
`window.turnixDemo` and `document.title` (examples/signaling_server/static/demo.js);
the test reads nothing else of them.

- Fresh credentials: the receiver shows the sender's message, both pages report
  the selected candidate pair (from `getStats()`) as relay/relay, and coturn's log
  shows successful allocations for the usernames the pages were served.
- Expired credentials (ttl=1, used seconds later): both pages report the failure
  within FAST seconds of using them, on coturn's 401 (or on gathering complete
  without a relay candidate), never on an ICE timeout.

The driver is Playwright's async API on the system Chromium (`executable_path`);
its browser downloads (`playwright install`) are never used. Without Chromium or
playwright the tests skip saying how to install them, or fail under
TURNIX_REQUIRE_E2E=1 as in CI. On failure, screenshots of both pages are kept in
the test's tmp_path and the message quotes the pages' state and coturn's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from tests.coturn import REQUIRE_E2E_ENV, Coturn, run_coturn, skip_or_fail

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

STEP = 5.0  # seconds: the bound on every wait (a positive run connects in about 0.5 s)
FAST = 2.0  # seconds from using expired credentials to the page's error (measured: 0.1 s)
# The fake server rounds the expiry up to a whole second and coturn accepts a username
# during its expiry second, so ttl=1 credentials may still allocate up to 3 s after the
# fetch (2 s is not enough: seen here). Used 3.5 s later, they are refused for sure.
EXPIRED_TTL = 1
EXPIRED_WAIT = 3.5
MESSAGE = "hello through TURN"

CHROMIUM_ENV = "TURNIX_CHROMIUM"  # another Chrome/Chromium binary, e.g. on macOS
CHROMIUM_HINT = (
    "install it: apt-get install -y --no-install-recommends chromium"
    f" (or set {CHROMIUM_ENV} to a Chrome/Chromium binary)"
)
PLAYWRIGHT_HINT = (
    "install it: pip install playwright (part of the dev extra); do not run"
    " `playwright install`, the tests drive the system Chromium"
)
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Without it a host with only loopback networking gathers nothing and says nothing.
    "--allow-loopback-in-peer-connection",
]
# Finished: an error (final), or connected with the message sent / received.
SETTLED = """role => {
  const demo = window.turnixDemo;
  if (!demo) return false;
  if (demo.error !== null) return true;
  return demo.pair !== null && (role === "sender" ? demo.sent : demo.message) !== null;
}"""
REFUSED = re.compile(r"\b40[13]\b|no relay candidate")
LOG_LINE = re.compile(r"(\d\d):(\d\d):(\d\d\.\d+) (.*)")


def load_example_app() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "examples" / "signaling_server" / "app.py"
    spec = importlib.util.spec_from_file_location("signaling_server_app_browser", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_chromium() -> str:
    """The Chromium binary to drive, or skip/fail saying how to install what is missing."""
    if importlib.util.find_spec("playwright") is None:
        skip_or_fail(f"playwright is not installed; {PLAYWRIGHT_HINT}")
    override = os.environ.get(CHROMIUM_ENV)
    names = [override] if override else ["chromium", "/usr/bin/chromium"]
    path = next((found for name in names if (found := shutil.which(name))), None)
    if path is None:
        skip_or_fail(f"Chromium is not installed ({' or '.join(names)} not found); {CHROMIUM_HINT}")
    return path


# -- coturn, the signaling server and the browser -------------------------------------


# One browser for the module (launching it takes about a second), so the async
# fixtures and tests of the module share one event loop; each test has its own
# browser context, coturn and signaling server.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture
def coturn(chromium: str, tmp_path: Path) -> Iterator[Coturn]:
    # -v: only a verbose coturn logs sessions and ALLOCATE results.
    with run_coturn(workdir=tmp_path / "coturn", extra_args=["-v"]) as turn:
        yield turn


@pytest_asyncio.fixture(loop_scope="module")
async def signaling_url(coturn: Coturn) -> AsyncIterator[str]:
    """The example app on 127.0.0.1, minting credentials for `coturn`; its URL."""
    app_module = load_example_app()

    def factory() -> Any:
        return app_module.default_turnix(turn_secret=coturn.secret, turn_urls=[coturn.turn_url()])

    async with TestServer(app_module.create_app(turnix_factory=factory)) as server:
        yield str(server.make_url("")).rstrip("/")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_FLAGS, timeout=4 * STEP * 1000
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Peer:
    """One demo page, what it logged to the console, and the /ice answer it got."""

    role: str
    page: Page
    ice: dict[str, Any] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url")
        self.console.append(f"{message.type}: {message.text}" + (f" ({url})" if url else ""))

    @property
    def usernames(self) -> set[str]:
        return {server["username"] for server in self.ice["iceServers"] if "username" in server}

    async def settled(self, timeout: float = STEP) -> dict[str, Any]:
        """`window.turnixDemo` once the page failed or finished its part, plus the title.

        Needs playwright 1.55 or later: 1.50 and older evaluate the predicate with
        eval(), which the pages' Content-Security-Policy forbids (EvalError).
        """
        await self.page.wait_for_function(SETTLED, arg=self.role, timeout=timeout * 1000)
        return await self.state()

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.page.evaluate(
            "() => ({...window.turnixDemo, title: document.title})"
        )
        return state

    async def log(self) -> str:
        text: str = await self.page.inner_text("#log", timeout=1000)
        return text


class Demo:
    """The two pages of one test, and what to show when it fails."""

    def __init__(self, context: BrowserContext, url: str, turn: Coturn, tmp_path: Path) -> None:
        self.context = context
        self.url = url
        self.turn = turn
        self.tmp_path = tmp_path
        self.peers: list[Peer] = []

    async def open(self, role: str, **query: object) -> Peer:
        """Open `/{role}.html?{query}` and return once the page has its ICE servers."""
        page = await self.context.new_page()
        peer = Peer(role, page)
        self.peers.append(peer)
        page.on("console", peer.on_console)
        page.on("pageerror", lambda error: peer.console.append(f"uncaught: {error}"))
        async with page.expect_response(
            lambda response: urlsplit(response.url).path == "/ice", timeout=STEP * 1000
        ) as answer:
            await page.goto(f"{self.url}/{role}.html?{urlencode(query)}", timeout=STEP * 1000)
        response = await answer.value
        assert response.ok, f"{role}: POST /ice answered {response.status}: {await response.text()}"
        peer.ice = await response.json()
        return peer

    @contextlib.asynccontextmanager
    async def explained(self) -> AsyncIterator[None]:
        """Re-raise a failure with screenshots, the pages' state and coturn's log."""
        try:
            yield
        except Exception as exc:
            raise AssertionError(f"{exc}\n\n{await self.evidence()}") from exc

    async def evidence(self) -> str:
        parts = []
        for peer in self.peers:
            shot = self.tmp_path / f"{peer.role}.png"
            try:
                await peer.page.screenshot(path=str(shot), full_page=True, timeout=STEP * 1000)
                where = str(shot)
            except Exception as exc:  # e.g. the page crashed
                where = f"none ({exc})"
            try:
                state, log = json.dumps(await peer.state()), await peer.log()
            except Exception as exc:
                state, log = f"unavailable ({exc})", ""
            console = "\n".join(peer.console) or "(nothing)"
            parts.append(
                f"--- {peer.role} page, screenshot: {where}\nstate: {state}\nlog:\n{log}"
                f"\nconsole:\n{console}"
            )
        tail = "\n".join(self.turn.log_text().splitlines()[-40:]) or "(empty)"
        parts.append(f"--- coturn log ({self.turn.log_path}), last lines:\n{tail}")
        return "\n".join(parts)


@pytest_asyncio.fixture(loop_scope="module")
async def demo(
    browser: Browser, signaling_url: str, coturn: Coturn, tmp_path: Path
) -> AsyncIterator[Demo]:
    context = await browser.new_context()
    try:
        yield Demo(context, signaling_url, coturn, tmp_path)
    finally:
        await context.close()


# -- what coturn logged and when the pages acted ----------------------------------------


async def coturn_logged(turn: Coturn, pattern: str, *, timeout: float = STEP) -> list[str]:
    """The log lines matching `pattern`, waiting (bounded) until there is one."""
    deadline = time.monotonic() + timeout
    while True:
        found = re.findall(rf"^.*{pattern}.*$", turn.log_text(), re.MULTILINE)
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def allocated(user: str) -> str:
    return rf"user <{re.escape(user)}>: incoming packet ALLOCATE processed, success"


def refused(user: str) -> str:
    return rf"user <{re.escape(user)}>: incoming packet \w+ processed, error 401"


def seconds_between(log: str, start: str, end_prefix: str) -> float:
    """Time from the page's log line `start` to its first line starting `end_prefix`."""
    times: dict[str, float] = {}
    for line in log.splitlines():
        match = LOG_LINE.fullmatch(line.strip())
        if match is None:
            continue
        hours, minutes, seconds, text = match.groups()
        moment = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        if text == start:
            times.setdefault("start", moment)
        elif text.startswith(end_prefix) and "start" in times:
            times.setdefault("end", moment)
    assert times.keys() == {"start", "end"}, f"no {start!r} then {end_prefix!r} in:\n{log}"
    return (times["end"] - times["start"]) % 86400  # the log shows the time of day


# -- the tests ---------------------------------------------------------------------------


@pytest.mark.browser
@in_module_loop
async def test_two_browser_pages_talk_through_coturn_relay_to_relay(
    demo: Demo, coturn: Coturn
) -> None:
    async with demo.explained():
        receiver, sender = await asyncio.gather(
            demo.open("receiver", room="e2e"), demo.open("sender", room="e2e", message=MESSAGE)
        )
        for peer in (receiver, sender):  # both were served coturn, with credentials
            assert any(coturn.turn_url() in server["urls"] for server in peer.ice["iceServers"])
            assert peer.usernames, peer.ice

        got, sent = await receiver.settled(), await sender.settled()

        assert got["error"] is None and sent["error"] is None
        assert (got["message"], sent["sent"]) == (MESSAGE, MESSAGE)
        assert (got["title"], sent["title"]) == (f"message: {MESSAGE}", "connected relay/relay")
        assert got["pair"] == sent["pair"] == "relay/relay"
        for state in (got, sent):  # relay-only: nothing else was even gathered
            assert state["candidates"]["relay"] >= 1, state
            assert state["candidates"]["host"] == state["candidates"]["srflx"] == 0, state
        allocations = await coturn_logged(coturn, r"incoming packet ALLOCATE processed, success")
        assert len(allocations) >= 2, "one allocation per peer at least"
        for user in receiver.usernames | sender.usernames:
            assert await coturn_logged(coturn, allocated(user)), f"no allocation for {user}"


@pytest.mark.browser
@in_module_loop
async def test_expired_credentials_fail_fast_in_both_pages(demo: Demo, coturn: Coturn) -> None:
    async with demo.explained():
        # Each page fetches its credentials as it loads; the sender waits once both are
        # in the room, and the receiver uses its own when the sender's offer comes: by
        # then they are EXPIRED_WAIT old too, without a wait of its own.
        receiver, sender = await asyncio.gather(
            demo.open("receiver", room="late", ttl=EXPIRED_TTL),
            demo.open("sender", room="late", ttl=EXPIRED_TTL, wait=EXPIRED_WAIT),
        )

        for peer in (sender, receiver):
            state = await peer.settled(timeout=EXPIRED_WAIT + STEP)

            assert state["error"] is not None, state
            assert REFUSED.search(state["error"]), state["error"]
            assert state["title"] == f"error: {state['error']}"
            assert state["pair"] is None and state["candidates"]["relay"] == 0, state
            took = seconds_between(await peer.log(), "connecting", "error: ")
            assert took < FAST, f"{peer.role}: the error came {took:.2f} s after using them"
        for user in receiver.usernames | sender.usernames:
            assert await coturn_logged(coturn, refused(user)), f"coturn did not refuse {user}"
            assert not re.search(allocated(user), coturn.log_text()), f"{user} was allocated"


# -- the skip helper -------------------------------------------------------------------


def test_a_missing_chromium_skips_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(REQUIRE_E2E_ENV, raising=False)
    monkeypatch.setenv(CHROMIUM_ENV, "/nonexistent/chromium")

    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y --no-install-recommends"):
        require_chromium()


def test_a_missing_playwright_fails_when_e2e_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_E2E_ENV, "1")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)

    with pytest.raises(pytest.fail.Exception, match=r"pip install playwright"):
        require_chromium()
