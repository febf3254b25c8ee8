"""What building the worker's app imports: no example factories (decision 59, lean workers),
and neither pydantic nor attrs (no model here uses them; Litestar's plugins for them did)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BUILD = (
    "import sys, json\n"
    "from cxloop.settings import Settings\n"
    "import cxloop.app\n"
    "settings = Settings(data_dir={data_dir!r}, database_url='postgresql://u@127.0.0.1:1/x')\n"
)


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.strip().splitlines()[-1]


def test_building_the_app_imports_no_example_factories_pydantic_or_attrs(tmp_path: Path) -> None:
    code = BUILD.format(data_dir=str(tmp_path)) + (
        "cxloop.app.create_app(settings)\n"
        "print(json.dumps(sorted(m for m in ('faker', 'polyfactory', 'pydantic', 'attr', "
        "'attrs') if m in sys.modules)))\n"
    )
    assert json.loads(_run(code)) == []


def test_the_schema_is_the_one_litestars_default_plugins_give(tmp_path: Path) -> None:
    # The app leaves out the pydantic and attrs plugins: the OpenAPI document must not change.
    code = BUILD.format(data_dir=str(tmp_path)) + (
        "import litestar\n"
        "lean = cxloop.app.create_app(settings).openapi_schema.to_schema()\n"
        "cxloop.app._MsgspecLitestar = litestar.Litestar\n"
        "default = cxloop.app.create_app(settings)\n"
        "assert any('Pydantic' in type(p).__name__ for p in default.plugins)\n"
        "print(json.dumps([lean == default.openapi_schema.to_schema(), len(json.dumps(lean))]))\n"
    )
    same, size = json.loads(_run(code))
    assert size > 10_000  # a real document, not two empty ones
    assert same


def test_ops_loads_no_event_loop_database_driver_or_web_framework() -> None:
    # The supervisor logs through cxloop.ops and waits on its children: the serving runtime,
    # the loop watches and the routes load only in the processes that run them.
    code = (
        "import sys, json\n"
        "import cxloop.ops\n"
        "print(json.dumps(sorted(m for m in ('asyncio', 'asyncpg', 'litestar', 'pyarrow', "
        "'duckdb', 'numpy') if m in sys.modules)))\n"
    )
    assert json.loads(_run(code)) == []
    # ... and what it names is still there, on first use.
    runtime = "import cxloop.ops\nprint(cxloop.ops.Runtime.__name__, cxloop.ops.GcWatch.__name__)\n"
    assert _run(runtime) == "Runtime GcWatch"
