"""Where the SDK's instructions go: take its pieces out one by one and count again.

Builds copies of `turnix_async` in a temporary directory, each one piece lighter
than the one before (the pieces are cumulative), and runs them as `--variant`
clients of `bench_client.py --instructions` beside raw aiohttp and the real SDK.
The difference between neighbours is what that piece costs per request. The
copies are for measuring only: they drop rules the SDK exists to keep.

    .venv/bin/python benchmarks/ablation.py      # ~6 minutes; needs valgrind

The patches match the current source text exactly; when the source changes, a
step fails loudly ("patch no longer applies") instead of measuring the wrong thing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "turnix_async/_client.py"

ICE_CALL = """        response, body = await send(
            self._open_session(), "POST", self._ice_url, {"room": room, "ttl": ttl}, None,
            self._policy, self._closing,
        )
"""

RETURN_CREDENTIALS = "        return parse_ice_credentials(self._checked(response, body), ttl)\n"

# (name, what it removes, [(file, old, new), ...]); each step builds on the one before
STEPS: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "no_auth",
        "the auth middleware (the header becomes a session default)",
        [
            (CLIENT, "middlewares=(self._auth,),", "middlewares=(),"),
            (
                CLIENT,
                '"Accept": "application/json"},',
                '"Accept": "application/json", "Authorization": "Bearer " + self._auth.token},',
            ),
        ],
    ),
    (
        "no_request_struct",
        "IceCredentialsRequest, its validation, the body hook, one coroutine level",
        [
            (
                CLIENT,
                "        request = IceCredentialsRequest(\n"
                "            initiator_client=initiator_client,\n"
                "            receiver_client=receiver_client,\n"
                "            room=room,\n"
                "            ttl=ttl,\n"
                "            fixed_region=fixed_region,\n"
                "            preferred_region=preferred_region,\n"
                "            client_ip=client_ip,\n"
                "        )\n"
                "        return await self.request_ice_credentials(request)\n",
                ICE_CALL + RETURN_CREDENTIALS,
            )
        ],
    ),
    (
        "no_result_structs",
        "IceCredentials/IceServer structuring (three SimpleNamespace objects instead)",
        [
            (
                CLIENT,
                RETURN_CREDENTIALS,
                "        data = _json(self._checked(response, body))\n"
                "        return N(ice_servers=[N(urls=s['urls']) for s in data['iceServers']])\n",
            ),
            (
                CLIENT,
                "from ._auth import BearerAuth\n",
                "from ._auth import BearerAuth\nfrom ._convert import _json\n"
                "from types import SimpleNamespace as N\nimport json as _std_json\n",
            ),
        ],
    ),
    (
        "no_retry_loop",
        "the retry loop and capped read (one session.request and response.read())",
        [
            (
                CLIENT,
                ICE_CALL,
                '        async with self._open_session().request("POST", self._ice_url,'
                ' json={"room": room, "ttl": ttl}, timeout=self._policy.attempt_timeout)'
                " as response:\n            body = await response.read()\n",
            )
        ],
    ),
    (
        "no_checks",
        "the status and Content-Type checks",
        [(CLIENT, "_json(self._checked(response, body))", "_json(body)")],
    ),
    (
        "std_json",
        "the fast JSON paths (json.dumps / json.loads as raw aiohttp uses)",
        [
            (CLIENT, "_json(body)", "_std_json.loads(body)"),
            (CLIENT, "json_serialize=dumps,", ""),
        ],
    ),
]


def build(workdir: Path) -> list[Path]:
    """One package copy per step, each with that step's and all earlier patches."""
    sources = {CLIENT: (ROOT / CLIENT).read_text()}
    roots = []
    for name, _, patches in STEPS:
        for path, old, new in patches:
            text = sources.get(path, (ROOT / path).read_text())
            if text.count(old) != 1:
                raise SystemExit(f"step {name}: patch no longer applies to {path}: {old[:60]!r}")
            sources[path] = text.replace(old, new)
        root = workdir / name
        shutil.copytree(ROOT / "turnix_async", root / "turnix_async")
        for path, text in sources.items():
            (root / path).write_text(text)
        roots.append(root)
    return roots


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="turnix-ablation-") as tmp:
        roots = build(Path(tmp))
        command = [sys.executable, str(ROOT / "benchmarks" / "bench_client.py")]
        command += ["--clients", "raw,sdk", "--no-throughput", "--no-imports", "--no-memory"]
        command += ["--instructions"] + [f"--variant={root}" for root in roots]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    counts = json.loads(output.strip().splitlines()[-1])["instructions"]
    print("| piece taken out (cumulative) | k instructions / request | piece costs (k) |")
    print("|---|---|---|")
    print(f"| nothing: the SDK | {counts['sdk'] / 1000:.1f} | |")
    previous = counts["sdk"]
    for name, what, _ in STEPS:
        count = counts[name]
        print(f"| {what} | {count / 1000:.1f} | {(previous - count) / 1000:+.1f} |")
        previous = count
    print(f"| (raw aiohttp, for reference) | {counts['raw'] / 1000:.1f} | |")
    print(f"| what is left: the SDK shell over raw | | {(previous - counts['raw']) / 1000:+.1f} |")


if __name__ == "__main__":
    main()
