"""Alert text never becomes markup (workflows/text.py), rendered by a real CommonMark
renderer where one is installed, else checked on the escaped text."""

from __future__ import annotations

import re

import pytest

from workflows.text import SA_MAX, md, sa_value

HOSTILE = [
    "a`b` [click](https://evil.example/x) **bold** <img src=x onerror=alert(1)>",
    "svc`\n# heading\n- item",
    "[/] [bold red]rich[/]",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_md_renders_literally(raw: str) -> None:
    out = md(raw)
    try:
        from markdown_it import MarkdownIt  # rich depends on it: normally installed
    except ImportError:  # pragma: no cover
        pytest.skip("markdown-it-py not installed")
    html = MarkdownIt("commonmark").render(out)
    assert "<a " not in html and "<code>" not in html and "<strong>" not in html
    assert "<img" not in html and "<h1>" not in html and "<li>" not in html
    # What a person reads is the label as sent (control characters aside).
    for word in re.findall(r"\w+", raw):
        assert word in html


def test_md_clips_and_drops_control_characters() -> None:
    assert "\n" not in md("a\nb") and len(md("x" * 1000, limit=50)) <= 50


def test_sa_value_is_clipped_and_clean() -> None:
    v = sa_value("svc\x00\x1b[31m" + "y" * 1000)
    assert len(v) == SA_MAX and "\x00" not in v and "\x1b" not in v
    assert sa_value("genesis-orchestration") == "genesis-orchestration"  # unchanged
