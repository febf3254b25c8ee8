"""``cxloop insights analyse-text``: outside comments scored without a server."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cxloop.cli import cli


def run(args: list[str], stdin: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(cli, ["insights", "analyse-text", *args], input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines, result.output


def test_json_and_plain_lines_get_one_analysis_each() -> None:
    stdin = (
        json.dumps({"text": "导出太慢了，我们正在考虑换别的工具", "score": 8, "id": "a1"})
        + "\n\nThe dashboard is great, love it\n"
        + json.dumps({"text": "導出太慢", "kind": "csat", "score": 1}) + "\n"
    )  # fmt: skip
    code, lines, output = run(["--score-kind", "nps"], stdin)
    assert code == 0, output
    assert len(lines) == 3  # the blank line is skipped
    first, plain, traditional = lines
    assert first["id"] == "a1" and first["segment"] == "passive"  # the input is kept
    analysis = first["analysis"]
    assert isinstance(analysis, dict)
    assert analysis["churn_intent"] is True and analysis["sentiment"] == "negative"
    assert "performance" in analysis["topics"]
    assert plain["segment"] is None and plain["analysis"]["language"] == "en"  # type: ignore[index]
    assert traditional["segment"] == "detractor"
    assert traditional["analysis"]["language"] == "zh-TW"  # type: ignore[index]


def test_a_configuration_file_is_applied(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"competitors": ["飞书"], "user_dictionary": ["智能报表"]}))
    code, lines, output = run(["--config", str(config)], "我们打算换飞书了\n智能报表很好用\n")
    assert code == 0, output
    assert lines[0]["analysis"]["competitors"] == ["飞书"]  # type: ignore[index]
    assert "智能报表" in lines[1]["analysis"]["tokens"]  # type: ignore[index]


def test_hostile_text_is_handled() -> None:
    emoji = "😀" * 12_800  # 50 KB
    code, lines, output = run([], json.dumps({"text": emoji}) + "\n" + "慢\x00了\n")
    assert code == 0, output
    assert len(lines) == 2 and lines[0]["analysis"]["sentiment"] in ("positive", "neutral")  # type: ignore[index]


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    code, _, output = run([], '{"text": 5}\n')
    assert code != 0 and 'needs "text": a string' in output
    code, _, output = run([], '{"text": "ok", "score": 3}\n')
    assert code != 0 and "needs a kind" in output
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"competitors": [1], "colour": "red"}))
    code, _, output = run(["--config", str(config)], "x\n")
    assert code != 0 and "colour" in output and "competitors[0]" in output
