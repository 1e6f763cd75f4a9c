"""A throwaway coturn `turnserver` on loopback, for end-to-end tests.

    from tests.coturn import require_turnserver, run_coturn

    def test_something(tmp_path):
        with run_coturn(workdir=tmp_path) as turn:
            turn.turn_url()           # "turn:127.0.0.1:PORT?transport=udp"
            turn.secret, turn.realm   # the shared secret of coturn's REST-API auth
            turn.mint(ttl=60)         # (username, credential) coturn accepts

`run_coturn` picks free ports (listening port and a relay port range) so
parallel runs do not collide, waits until the server answers a STUN Binding
request (about 0.1 s), and stops the process by its PID when the block ends,
even on failure. Its log is kept at `turn.log_path` and quoted in errors.

Missing tools: `require_turnserver()` / `require_aiortc()` skip the test with
the install command, or fail it when `TURNIX_REQUIRE_E2E=1` (set in CI, where
a skip would hide a broken setup).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import importlib.util
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = [
    "REQUIRE_E2E_ENV",
    "Coturn",
    "CoturnStartError",
    "mint_credentials",
    "require_aiortc",
    "require_turnserver",
    "run_coturn",
    "skip_or_fail",
]

REQUIRE_E2E_ENV = "TURNIX_REQUIRE_E2E"
TURNSERVER_HINT = "install coturn: apt-get install -y coturn"
AIORTC_HINT = "install the extra: pip install 'turnix-async[aiortc]'"

_STUN_MAGIC_COOKIE = 0x2112A442
_STUN_BINDING_REQUEST = 0x0001
_STUN_BINDING_SUCCESS = 0x0101


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test, or fail it when `TURNIX_REQUIRE_E2E` is set (CI must not skip)."""
    if os.environ.get(REQUIRE_E2E_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} ({REQUIRE_E2E_ENV} is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def require_turnserver() -> str:
    """The path of coturn's `turnserver`, or skip/fail saying how to install it."""
    path = shutil.which("turnserver") or next(
        (p for p in ("/usr/bin/turnserver", "/usr/local/bin/turnserver") if os.access(p, os.X_OK)),
        None,
    )
    if path is None:
        skip_or_fail(f"coturn's turnserver is not installed; {TURNSERVER_HINT}")
    return path


def require_aiortc() -> None:
    """Skip/fail, saying how to install it, unless aiortc can be imported."""
    if importlib.util.find_spec("aiortc") is None:
        skip_or_fail(f"aiortc is not installed; {AIORTC_HINT}")


def mint_credentials(secret: str, *, expires_at: int, client: str = "peer") -> tuple[str, str]:
    """coturn REST-API credentials: `("<expiry>:<client>", base64(HMAC-SHA1(secret, user)))`."""
    username = f"{expires_at}:{client}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


class CoturnStartError(RuntimeError):
    """`turnserver` exited or did not answer STUN in time; the message quotes its log."""


@dataclass(frozen=True)
class Coturn:
    """A running `turnserver`: where it listens, its REST-API secret and realm, its log."""

    host: str
    port: int
    secret: str
    realm: str
    log_path: Path
    pid: int
    min_port: int
    max_port: int

    def turn_url(self, transport: str = "udp") -> str:
        """`turn:HOST:PORT?transport=...` (the server listens on UDP and TCP)."""
        return f"turn:{self.host}:{self.port}?transport={transport}"

    def stun_url(self) -> str:
        return f"stun:{self.host}:{self.port}"

    def mint(
        self, *, ttl: int = 3600, client: str = "peer", secret: str | None = None
    ) -> tuple[str, str]:
        """Credentials valid for `ttl` seconds (negative: already expired)."""
        return mint_credentials(
            self.secret if secret is None else secret,
            expires_at=int(time.time()) + ttl,
            client=client,
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def run_coturn(
    *,
    workdir: Path | None = None,
    secret: str | None = None,
    realm: str = "example.test",
    host: str = "127.0.0.1",
    extra_args: Sequence[str] = (),
    startup_timeout: float = 5.0,
    attempts: int = 3,
) -> Iterator[Coturn]:
    """Run `turnserver` on `host` for the duration of the block, then stop it by PID.

    Skips (or fails under `TURNIX_REQUIRE_E2E`) when coturn is not installed.
    Files (log, pid file, user db) go to `workdir`, else to a temporary
    directory removed afterwards. A port taken between picking and binding
    is retried with new ports, up to `attempts` times.
    """
    binary = require_turnserver()
    secret = secret or secrets.token_hex(16)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="coturn-")))
        workdir.mkdir(parents=True, exist_ok=True)
        last_error: CoturnStartError | None = None
        for attempt in range(attempts):
            port = _free_port(host)
            min_port, max_port = _relay_range()
            turn = Coturn(
                host=host,
                port=port,
                secret=secret,
                realm=realm,
                log_path=workdir / f"turnserver-{port}.log",
                pid=0,
                min_port=min_port,
                max_port=max_port,
            )
            args = [
                binary,
                "-n",
                "-L",
                host,
                "--listening-port",
                str(port),
                "--relay-ip",
                host,
                "--allow-loopback-peers",
                "--no-tls",
                "--no-dtls",
                "--use-auth-secret",
                "--static-auth-secret",
                secret,
                "--realm",
                realm,
                "--no-cli",
                "--fingerprint",
                "--min-port",
                str(min_port),
                "--max-port",
                str(max_port),
                "--userdb",
                str(workdir / f"turndb-{port}"),
                "--pidfile",
                str(workdir / f"turnserver-{port}.pid"),
                "--log-file",
                str(turn.log_path),
                "--simple-log",
                "--no-stdout-log",
                *extra_args,
            ]
            with (workdir / f"turnserver-{port}.out").open("wb") as out:
                process = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                )
            turn = dataclasses.replace(turn, pid=process.pid)
            try:
                _wait_ready(process, turn, startup_timeout)
            except CoturnStartError as exc:
                _stop(process)
                last_error = exc
                if attempt + 1 < attempts and "bind" in str(exc).lower():
                    continue
                raise
            try:
                yield turn
            finally:
                _stop(process)
            return
        assert last_error is not None
        raise last_error


def _free_port(host: str) -> int:
    """A port free for both UDP and TCP on `host` (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return port
    raise CoturnStartError("no free UDP+TCP port found")


def _relay_range(size: int = 200) -> tuple[int, int]:
    """A random relay port block below Linux's ephemeral range (coturn skips busy ports)."""
    start = random.randrange(10000, 32000 - size)
    return start, start + size - 1


def _wait_ready(process: subprocess.Popen[bytes], turn: Coturn, timeout: float) -> None:
    """Return once `turnserver` answers a STUN Binding request over UDP."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.05)
        while True:
            if process.poll() is not None:
                raise CoturnStartError(
                    f"turnserver exited with status {process.returncode}:\n{_log_tail(turn)}"
                )
            if _stun_answers(probe, turn.host, turn.port):
                return
            if time.monotonic() > deadline:
                raise CoturnStartError(
                    f"turnserver did not answer STUN on {turn.host}:{turn.port}"
                    f" within {timeout} s:\n{_log_tail(turn)}"
                )


def _stun_answers(probe: socket.socket, host: str, port: int) -> bool:
    transaction = secrets.token_bytes(12)
    request = (
        _STUN_BINDING_REQUEST.to_bytes(2, "big")
        + (0).to_bytes(2, "big")
        + _STUN_MAGIC_COOKIE.to_bytes(4, "big")
        + transaction
    )
    try:
        probe.sendto(request, (host, port))
        data = probe.recv(2048)
    except OSError:  # timeout, or ICMP port unreachable while it starts
        return False
    # Any Binding success on this private socket proves the server is up (it may be
    # the answer to an earlier probe that arrived late).
    return (
        len(data) >= 20
        and int.from_bytes(data[:2], "big") == _STUN_BINDING_SUCCESS
        and int.from_bytes(data[4:8], "big") == _STUN_MAGIC_COOKIE
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate by PID, then kill if it lingers; always reap it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _log_tail(turn: Coturn, lines: int = 30) -> str:
    text = turn.log_text()
    out = turn.log_path.with_suffix(".out")
    with contextlib.suppress(OSError):
        text += out.read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
