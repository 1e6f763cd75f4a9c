"""Every code example in the docs runs here, against the local Turnix server.

Python examples live in docs/examples/*.py and are written out in the pages as
blocks titled with their file (```python title="docs/examples/x.py"), byte for
byte: `python docs/sync_examples.py` copies the files in. A page may not hold a
Python block that no test executes (mark a transcript ```text or ```pycon).
Scripts run as subprocesses; web-app examples are driven through their
frameworks' test clients.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.examples import load
from turnix_async.testing import FakeTurnixServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
PAGES = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(?:python|py)\b([^\n]*)\n(.*?)^```$", re.M | re.S)
TITLE = re.compile(r'^ title="(docs/examples/[^"/]+\.py)"$')

# scripts that call the API named by TURNIX_API_TOKEN / TURNIX_BASE_URL -> expected output
SCRIPTS = {
    "quickstart.py": "iceServers",
    "bot.py": "joining with",
    "errors.py": "None",
    "configuration.py": "ICE servers",
    "caching_basic.py": "True 1 cached key",
}
# scripts that start their own local server
STANDALONE = {"caching_offline.py": "1000 peers, 1 request, 1 credentials"}
# test modules users copy: run with pytest
PYTEST_FILES = {"caching_test_clock.py"}
WEB_APPS = {
    "aiohttp_app.py",
    "fastapi_app.py",
    "quart_app.py",
    "caching_aiohttp.py",
    "caching_fastapi.py",
}
NEEDS_COTURN = {"aiortc_peers.py"}


def python_blocks(page: Path) -> list[tuple[str, str]]:
    """(the text after the language on the opening fence, the code) of each Python block."""
    return FENCE.findall(page.read_text())


def shown_files() -> set[str]:
    names = set()
    for page in PAGES:
        for info, _ in python_blocks(page):
            match = TITLE.match(info)
            if match:
                names.add(Path(match.group(1)).name)
    return names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_are_example_files_byte_for_byte(page: Path) -> None:
    for info, code in python_blocks(page):
        match = TITLE.match(info)
        assert match, (
            f"{page.name}: a Python block no test runs ({info.strip() or 'no title'}); move it"
            ' to docs/examples/ and show it as ```python title="docs/examples/NAME.py"'
        )
        path = ROOT / match.group(1)
        assert path.is_file(), f"{page.name}: missing {match.group(1)}"
        assert code == path.read_text(), (
            f"{page.name} shows an old {match.group(1)}: run python docs/sync_examples.py"
        )


def test_sync_examples_rewrites_a_stale_block() -> None:
    sync = load("sync_examples.py", ROOT / "docs")
    page = (ROOT / "docs" / "quickstart.md").read_text()
    stale = page.replace((EXAMPLES / "quickstart.py").read_text(), "print('old')\n")
    assert stale != page
    assert sync.synced(stale) == page


def test_every_example_is_in_a_page_and_executed() -> None:
    examples = {path.name for path in EXAMPLES.glob("*.py")}
    executed = set(SCRIPTS) | set(STANDALONE) | PYTEST_FILES | WEB_APPS | NEEDS_COTURN
    assert examples == executed | set(EXTRA_EXECUTED)
    assert examples <= shown_files()


# examples other modules' tests execute (the module that runs each is named)
EXTRA_EXECUTED: dict[str, str] = {
    "testing_pytest.py": "tests/test_plugin.py",
    "testing_fastapi.py": "tests/test_plugin.py",
    "testing_aiohttp.py": "tests/test_plugin.py",
    "testing_server.py": "tests/test_testing_server.py",
    "monitoring_prometheus.py": "tests/test_instrumentation_client.py",
    "monitoring_opentelemetry.py": "tests/test_instrumentation_client.py",
    "monitoring_cache.py": "tests/test_instrumentation_client.py",
    "monitoring_custom_hook.py": "tests/test_instrumentation_client.py",
}


async def run_script(path: Path, server: FakeTurnixServer | None, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if server is not None:
        env.update(TURNIX_API_TOKEN=server.api_token, TURNIX_BASE_URL=server.base_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *(args or (str(path),)),
        env=env,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    text = output.decode()
    assert process.returncode == 0, text
    return text


@pytest.mark.parametrize("name", sorted(SCRIPTS))
async def test_script_examples_run(name: str, turnix_server: FakeTurnixServer) -> None:
    output = await run_script(EXAMPLES / name, turnix_server)
    assert SCRIPTS[name] in output
    assert turnix_server.requests, "the example never called the API"
    assert turnix_server.api_token not in output


@pytest.mark.parametrize("name", sorted(STANDALONE))
async def test_standalone_examples_run(name: str) -> None:
    assert STANDALONE[name] in await run_script(EXAMPLES / name, None)


@pytest.mark.parametrize("name", sorted(PYTEST_FILES))
async def test_example_test_modules_pass(name: str) -> None:
    args = ("-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLES / name))
    assert " passed" in await run_script(EXAMPLES / name, None, *args)


async def test_aiortc_example_relays_through_coturn(tmp_path: Path) -> None:
    from tests.coturn import require_aiortc, run_coturn

    require_aiortc()
    with run_coturn(workdir=tmp_path) as turn:
        async with FakeTurnixServer(turn_secret=turn.secret, turn_urls=[turn.turn_url()]) as server:
            output = await run_script(EXAMPLES / "aiortc_peers.py", server)
    assert "bob got: hello through TURN" in output


async def test_readme_usage_example_runs(turnix_server: FakeTurnixServer, tmp_path: Path) -> None:
    blocks = python_blocks(ROOT / "README.md")
    assert blocks, "README.md lost its usage example"
    for index, (_, block) in enumerate(blocks):
        script = tmp_path / f"readme_{index}.py"
        script.write_text(block)
        output = await run_script(script, turnix_server)
        assert "iceServers" in output


SERVER_EXAMPLES = ["aiohttp_app.py", "fastapi_app.py", "quart_app.py"]


async def post(name: str, url: str) -> tuple[int, str]:
    """POST `url` to the web-server example `name` through its framework's test client."""
    if name == "aiohttp_app.py":
        async with TestClient(TestServer(load(name).create_app())) as client:
            response = await client.post(url)
            return response.status, await response.text()
    app = load(name).app
    if name == "fastapi_app.py":
        import httpx

        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                answer = await client.post(url)
                return answer.status_code, answer.text
    async with app.test_app() as test_app:
        reply = await test_app.test_client().post(url)
        return reply.status_code, await reply.get_data(as_text=True)


def browser_fetch() -> tuple[str, str, str]:
    """The URL, method and room of the browser's `fetch()` in webrtc.md."""
    page = (ROOT / "docs" / "webrtc.md").read_text()
    (snippet,) = re.findall(r"^```js\n(.*?)^```", page, re.M | re.S)
    url = re.search(r'fetch\("([^"]+)"', snippet)
    method = re.search(r'method: "(\w+)"', snippet)
    room = re.search(r"room\W+(\w+)", snippet)
    assert url and method and room, snippet
    return url.group(1), method.group(1), room.group(1)


@pytest.mark.parametrize("name", SERVER_EXAMPLES)
async def test_the_browser_snippet_gets_its_room_to_turnix(
    name: str, turnix_env: FakeTurnixServer
) -> None:
    url, method, room = browser_fetch()
    assert method == "POST"
    status, body = await post(name, url)
    assert status == 200, body
    assert turnix_env.requests[-1].json["room"] == room


@pytest.mark.parametrize("name", SERVER_EXAMPLES)
async def test_a_bad_room_is_the_callers_400(name: str, turnix_env: FakeTurnixServer) -> None:
    status, body = await post(name, "/ice?room=not%20valid")
    assert status == 400
    assert "room" in body and "Traceback" not in body
    assert not turnix_env.requests


async def test_aiohttp_example(turnix_env: FakeTurnixServer) -> None:
    app = load("aiohttp_app.py").create_app()
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/ice", params={"room": "lobby"})
        assert response.status == 200
        body = await response.json()
    assert body["iceServers"] and body["expiresAt"]
    assert turnix_env.requests[-1].headers["X-TURN-CLIENT-IP"] == "127.0.0.1"
    assert turnix_env.requests[-1].json == {"room": "lobby", "ttl": 300}


async def test_fastapi_example(turnix_env: FakeTurnixServer) -> None:
    import httpx

    app = load("fastapi_app.py").app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ok = await client.post("/ice", params={"room": "lobby"})
    assert ok.status_code == 200 and ok.json()["iceServers"]
    assert turnix_env.requests[-1].headers["X-TURN-CLIENT-IP"] == "203.0.113.7"


async def test_caching_aiohttp_example(turnix_env: FakeTurnixServer) -> None:
    app = load("caching_aiohttp.py").create_app()
    async with TestClient(TestServer(app)) as client:
        answers = await asyncio.gather(*(client.post("/ice?room=lobby") for _ in range(20)))
        assert {answer.status for answer in answers} == {200}
        assert answers[0].headers["Cache-Control"] == "no-store"
        bad = await client.post("/ice?room=not%20valid")
        assert bad.status == 400
    assert len(turnix_env.requests) == 1


async def test_caching_fastapi_example(turnix_env: FakeTurnixServer) -> None:
    import httpx

    app = load("caching_fastapi.py").app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = await asyncio.gather(*(client.post("/ice?room=lobby") for _ in range(20)))
    assert {answer.status_code for answer in answers} == {200}
    assert len(turnix_env.requests) == 1


async def test_quart_example(turnix_env: FakeTurnixServer) -> None:
    app = load("quart_app.py").app
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/ice")
        assert response.status_code == 200
        assert (await response.get_json())["iceServers"]
    assert len(turnix_env.requests) == 1
