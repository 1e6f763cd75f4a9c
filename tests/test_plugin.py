"""The pytest plugin, reached only through the installed `pytest11` entry point.

Nothing here imports the plugin module or lists it in `pytest_plugins`: the
fixtures must come from installing turnix-async, as they do for users.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from turnix_async import AsyncTurnix, RateLimitError
from turnix_async.testing import FakeTurnixServer, instant_retries

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "turnix_async"]
    assert plugin.value == "turnix_async.testing.pytest_plugin"


async def test_turnix_server_is_a_started_fake_server(turnix_server: FakeTurnixServer) -> None:
    assert isinstance(turnix_server, FakeTurnixServer)
    assert turnix_server.base_url.endswith("/api/v1")
    assert turnix_server.requests == []


async def test_turnix_client_is_bound_to_turnix_server(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    assert turnix_client.base_url == turnix_server.base_url
    credentials = await turnix_client.get_ice_credentials(room="plugin")
    assert credentials.ice_servers
    (request,) = turnix_server.requests
    assert request.headers["Authorization"] == f"Bearer {turnix_server.api_token}"


@pytest.mark.turnix_server(api_token="tnx_from-the-marker", rate_limit=(1, 600))
async def test_the_marker_configures_turnix_server(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    assert turnix_server.api_token == "tnx_from-the-marker"
    await turnix_client.list_regions()
    with pytest.raises(RateLimitError, match="rate limit"):
        await turnix_client.list_regions()  # Retry-After 600 s is above the cap: raised at once


async def test_the_fixtures_retry_without_waiting(
    turnix_server: FakeTurnixServer, turnix_client: AsyncTurnix
) -> None:
    turnix_server.fail_next(2, status=503, retry_after=30)  # 60 s of waits in production
    assert await asyncio.wait_for(turnix_client.list_regions(), 5)
    assert len(turnix_server.requests) == 3


async def test_instant_retries_skips_backoff_for_every_client() -> None:
    async with (
        FakeTurnixServer() as server,
        AsyncTurnix(server.api_token, base_url=server.base_url, backoff_base=30.0) as client,
    ):
        server.fail_next(2, status=502)
        with instant_retries():
            assert await asyncio.wait_for(client.list_regions(), 5)
    assert len(server.requests) == 3


async def test_turnix_env_points_a_default_client_at_the_server(
    turnix_env: FakeTurnixServer,
) -> None:
    async with AsyncTurnix() as client:  # token and base URL from the environment
        assert client.base_url == turnix_env.base_url
        await client.list_regions()
    (request,) = turnix_env.requests
    assert request.headers["Authorization"] == f"Bearer {turnix_env.api_token}"


# Plugins this repository's environment has that a user's project does not need; they
# only slow the child pytest down (hypothesis alone costs about a second to import).
_UNRELATED_PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio")


def _run_pytest(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *_UNRELATED_PLUGINS_OFF, *args, str(project)],
        cwd=project,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return f"exit={result.returncode}\n{result.stdout}{result.stderr}"


def test_a_user_project_in_strict_mode_gets_working_fixtures(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\n"
        "asyncio_mode = strict\n"
        "asyncio_default_fixture_loop_scope = function\n"
        "addopts = --strict-markers\n"
        "filterwarnings = error\n"
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import socket

            import pytest

            seen = {}


            @pytest.mark.asyncio
            async def test_fixtures(turnix_server, turnix_client):
                creds = await turnix_client.get_ice_credentials(room="user-room")
                assert creds.ice_servers[1].username
                assert turnix_server.requests[0].json == {"room": "user-room"}
                seen.update(client=turnix_client, port=turnix_server.port)


            @pytest.mark.asyncio
            @pytest.mark.turnix_server(regions=[])
            async def test_marker(turnix_client):
                assert await turnix_client.list_regions() == []


            def test_both_were_closed_afterwards():
                assert seen["client"].closed
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", seen["port"]), timeout=2)
            """
        )
    )
    # the examples of docs/testing.md, with the web apps they test (docs/web-servers.md)
    for name in (
        "testing_pytest",
        "testing_fastapi",
        "fastapi_app",
        "testing_aiohttp",
        "aiohttp_app",
    ):
        target = f"test_{name}.py" if name.startswith("testing") else f"{name}.py"
        (tmp_path / target).write_text((EXAMPLES / f"{name}.py").read_text())
    output = _run_pytest(tmp_path)
    assert output.startswith("exit=0"), output
    assert "12 passed" in output


def test_without_pytest_asyncio_the_fixtures_fail_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(
        "def test_unrelated():\n    pass\n\n\ndef test_uses_the_fixture(turnix_env):\n    pass\n"
    )
    output = _run_pytest(tmp_path, "-p", "no:asyncio")
    assert output.startswith("exit=1"), output
    assert "1 passed, 1 error" in output
    assert "pip install pytest-asyncio" in output
    assert "-p no:asyncio" in output


_COUNT_MODULES = """
import sys

def test_count(pytestconfig):
    loaded = pytestconfig.pluginmanager.has_plugin("turnix_async")
    heavy = [m for m in ("aiohttp", "attrs", "cattrs", "turnix_async._client") if m in sys.modules]
    print(f"MODULES {len(sys.modules)} LOADED {loaded} HEAVY {heavy}")
"""


def test_loading_the_plugin_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_count.py").write_text(_COUNT_MODULES)

    def modules(*args: str) -> tuple[int, str]:
        output = _run_pytest(tmp_path, "-s", *args)
        assert output.startswith("exit=0"), output
        (line,) = [line for line in output.splitlines() if line.startswith("MODULES")]
        count, rest = line.removeprefix("MODULES ").split(" ", 1)
        return int(count), rest

    with_plugin, seen = modules()
    without_plugin, _ = modules("-p", "no:turnix_async")
    assert seen == "LOADED True HEAVY []"
    assert with_plugin - without_plugin <= 10  # the package, the testing package, the plugin
