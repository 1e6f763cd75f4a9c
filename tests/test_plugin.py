"""The pytest plugin, reached only through the installed `pytest11` entry point.

Nothing here imports the plugin module or lists it in `pytest_plugins`: the
fixtures must come from installing turnix-async, as they do for users.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from turnix_async import AsyncTurnix, RateLimitError
from turnix_async.testing import FakeTurnixServer


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
    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "testing_pytest.py"
    (tmp_path / "test_docs_example.py").write_text(example.read_text())  # docs/testing.md
    output = _run_pytest(tmp_path)
    assert output.startswith("exit=0"), output
    assert "7 passed" in output


def test_without_pytest_asyncio_the_fixtures_fail_with_a_clear_message(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pytest_asyncio.py").write_text("raise ImportError('pytest-asyncio is absent')\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_user.py").write_text(
        "def test_unrelated():\n    pass\n\n\ndef test_uses_the_fixture(turnix_server):\n    pass\n"
    )
    output = _run_pytest(project, "-p", "no:asyncio", env={"PYTHONPATH": str(shadow)})
    assert output.startswith("exit=1"), output
    assert "1 passed, 1 error" in output
    assert "install pytest-asyncio" in output
