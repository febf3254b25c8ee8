"""What building the worker's app imports: no example factories (decision 59, lean workers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_building_the_app_imports_no_example_factories(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from cxloop.app import create_app\n"
        "from cxloop.settings import Settings\n"
        f"create_app(Settings(data_dir={str(tmp_path)!r}, "
        "database_url='postgresql://u@127.0.0.1:1/x'))\n"
        "print(sorted(m for m in ('faker', 'polyfactory') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
