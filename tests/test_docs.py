"""Every code example in the docs runs here, against the local Turnix server.

Python examples live in docs/examples/*.py and are included into the pages with
`--8<--`; a page may not hold an inline Python block that no test executes.
Scripts run as subprocesses; web-app examples are driven through their
frameworks' test clients.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp.test_utils import TestClient, TestServer

from turnix_async.testing import FakeTurnixServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
PAGES = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
INCLUDE = re.compile(r'^--8<-- "([^"]+)"\s*$')

SCRIPTS = {
    "quickstart.py": "iceServers",
    "bot.py": "joining with",
    "errors.py": "None",
    "configuration.py": "ICE servers",
}
WEB_APPS = {"aiohttp_app.py", "fastapi_app.py", "quart_app.py"}


def python_blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text())


def included_files() -> set[str]:
    names = set()
    for page in PAGES:
        for block in python_blocks(page):
            match = INCLUDE.match(block.strip())
            if match:
                names.add(Path(match.group(1)).name)
    return names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_are_included_example_files(page: Path) -> None:
    for block in python_blocks(page):
        match = INCLUDE.match(block.strip())
        assert match, f"{page.name}: inline Python block; move it to docs/examples/ and include it"
        assert (ROOT / match.group(1)).is_file(), f"{page.name}: missing {match.group(1)}"


def test_every_example_is_in_a_page_and_executed() -> None:
    examples = {path.name for path in EXAMPLES.glob("*.py")}
    assert examples == set(SCRIPTS) | WEB_APPS | set(EXTRA_EXECUTED)
    assert examples <= included_files()


# examples other modules' tests execute (the module that runs each is named)
EXTRA_EXECUTED: dict[str, str] = {}


async def run_script(path: Path, server: FakeTurnixServer, *args: str) -> str:
    env = {
        **os.environ,
        "TURNIX_API_TOKEN": server.api_token,
        "TURNIX_BASE_URL": server.base_url,
        "PYTHONPATH": str(ROOT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(path),
        *args,
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


async def test_readme_usage_example_runs(turnix_server: FakeTurnixServer, tmp_path: Path) -> None:
    blocks = python_blocks(ROOT / "README.md")
    assert blocks, "README.md lost its usage example"
    for index, block in enumerate(blocks):
        script = tmp_path / f"readme_{index}.py"
        script.write_text(block)
        output = await run_script(script, turnix_server)
        assert "iceServers" in output


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_example_{name[:-3]}", EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def api_env(turnix_server: FakeTurnixServer, monkeypatch: pytest.MonkeyPatch) -> FakeTurnixServer:
    monkeypatch.setenv("TURNIX_API_TOKEN", turnix_server.api_token)
    monkeypatch.setenv("TURNIX_BASE_URL", turnix_server.base_url)
    return turnix_server


async def test_aiohttp_example(api_env: FakeTurnixServer) -> None:
    app = load("aiohttp_app.py").create_app()
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/ice", params={"room": "lobby"})
        assert response.status == 200
        body = await response.json()
    assert body["iceServers"] and body["expiresAt"]
    assert api_env.requests[-1].headers["X-TURN-CLIENT-IP"] == "127.0.0.1"
    assert api_env.requests[-1].json == {"room": "lobby", "ttl": 300}


async def test_fastapi_example(api_env: FakeTurnixServer) -> None:
    import httpx

    app = load("fastapi_app.py").app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ok = await client.post("/ice", params={"room": "lobby"})
            bad = await client.post("/ice", params={"room": "not valid"})
    assert ok.status_code == 200 and ok.json()["iceServers"]
    assert bad.status_code == 400 and "room" in bad.json()["detail"]
    assert api_env.requests[-1].headers["X-TURN-CLIENT-IP"] == "203.0.113.7"


async def test_quart_example(api_env: FakeTurnixServer) -> None:
    app = load("quart_app.py").app
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/ice")
        assert response.status_code == 200
        assert (await response.get_json())["iceServers"]
    assert len(api_env.requests) == 1
