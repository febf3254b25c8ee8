"""Cleaning, stemming, Simplified/Traditional conversion and jieba's import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cxloop.text.chinese import script_of, to_simplified
from cxloop.text.segment import MAX_CHARS, clean, stem


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("exports", "export"),
        ("exported", "export"),
        ("exporting", "export"),
        ("crashes", "crash"),
        ("replies", "reply"),
        ("making", "make"),
        ("running", "run"),
        ("using", "use"),
        ("status", "status"),
        ("analysis", "analysis"),
        ("bug", "bug"),
        ("csv", "csv"),
    ],
)
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_clean_removes_controls_invisibles_surrogates_and_urls() -> None:
    text = clean("ａｂｃ\x00\u200b\u202eDEF\ud800 see https://example.com/x?y=1 ！")
    assert text == "abc DEF  see   !"
    assert len(clean("x" * 100_000)) == MAX_CHARS


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("報表匯出", "报表导出"),
        ("軟體", "软件"),
        ("登入後無法使用", "登录后无法使用"),
        ("資料庫連線", "数据库连接"),
        ("头发", "头发"),  # already Simplified
        ("那么好用", "那么好用"),  # 么 is the Simplified 麼, not converted to 幺
        ("為什麼", "为什么"),
        ("English stays", "English stays"),
    ],
)
def test_to_simplified(traditional: str, simplified: str) -> None:
    assert to_simplified(traditional) == simplified
    assert to_simplified(traditional, set(traditional)) == simplified


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("報表", "zh-TW"),
        ("报表", "zh-CN"),
        ("皇后", "zh-CN"),
        ("後台报表", "zh-CN"),
        ("表", "zh-CN"),
    ],
)
def test_script_of(text: str, script: str) -> None:
    assert script_of(set(text)) == script


def test_importing_the_analyser_emits_no_deprecation_warning() -> None:
    code = "import cxloop.text as t; t.Analyzer().analyse('报表很好用');import sys; print('ok')"
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert result.stderr == ""  # jieba's log is quiet
