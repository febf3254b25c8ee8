"""The verification examples in docs/webhooks.md, run as written (Python, and Node.js)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from cxloop.webhooks import signature_header

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"
SECRET = "whsec_docs-example"
BODY = '{"id":"evt_1","type":"alert.opened","data":{"alert":{"comment":"导出太慢"}}}'.encode()


def block(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    (code,) = [b for b in blocks if marker in b]
    return code


def cases() -> list[tuple[str, str, bytes, bool]]:
    now = int(time.time())
    good = signature_header(SECRET, BODY, timestamp=now)
    return [
        ("valid", good, BODY, True),
        ("tampered body", good, BODY.replace(b"alert.opened", b"alert.updated"), False),
        ("wrong secret", signature_header("whsec_other", BODY, timestamp=now), BODY, False),
        ("stale", signature_header(SECRET, BODY, timestamp=now - 301), BODY, False),
        ("rotation", good.replace("v1=", "v1=00ff,v1="), BODY, True),
        ("malformed", "sha256=abc", BODY, False),
    ]


def test_the_python_example() -> None:
    namespace: dict[str, object] = {}
    exec(block("python", "def verify("), namespace)
    verify = namespace["verify"]
    assert callable(verify)
    for name, header, body, valid in cases():
        outcome = _outcome(lambda: verify(SECRET, header, body))  # noqa: B023
        assert outcome == valid, name


def test_the_node_example() -> None:
    script = block("js", "function verifyCxloopSignature(") + (
        "\nconst cases = JSON.parse(process.argv[1]);\n"
        "const results = cases.map(([header, body]) => {\n"
        "  try { verifyCxloopSignature(process.argv[2], header, Buffer.from(body, 'base64'));"
        " return true; } catch (e) { return false; }\n"
        "});\n"
        "console.log(JSON.stringify(results));\n"
    )
    given = cases()
    payload = json.dumps([[h, base64.b64encode(b).decode()] for _, h, b, _ in given])
    out = subprocess.run(
        ["node", "-e", script, payload, SECRET], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [valid for *_, valid in given]


def _outcome(call: Callable[[], object]) -> bool:
    try:
        call()
    except ValueError:
        return False
    return True
