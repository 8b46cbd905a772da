"""Alert text (label and annotation values, from whoever can reach Alertmanager) made
safe where it could be read as markup: one module for the workflows (the UI's current
details, search attributes, the post-mortem), the bridge (the UI's summary and static
details) and remedy/report.

* `md` for Markdown text: the Temporal UI renders a workflow's summary and details as
  Markdown, and `remedy report` prints (and `--format html` renders) Markdown. Every
  character that can open inline markup is backslash-escaped (CommonMark allows it for
  all ASCII punctuation): a backtick cannot open a code span, `[text](https://...)`,
  `![..](..)` and `<...>` stay text, `*`, `_`, `~`, `|` do not format or split a table
  cell, `{`/`}` do not form the UI's `{workflowId}` templates, and `:`, `@` and the dot
  of `www.` are escaped so no GFM autolink forms. `-`, `.`, `%`, `/` and the like stay
  as they are, so names read as they are (`genesis-orchestration`). Line breaks and
  other control characters become spaces: a value never starts a block of its own.
* `md_code` for a value shown as code: a code span fenced with more backticks than any
  run inside it, so nothing in it is markup and it cannot close early.
* `sa_value` for a Keyword search attribute: control characters removed, clipped.

Pure Python (no I/O library): workflow code imports it.
"""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~&:@])|(?<=www)(\.)", re.IGNORECASE)
_TICKS = re.compile("`+")
# C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


SA_MAX = 256  # characters kept in a search attribute value


def md(value: object, limit: int | None = None) -> str:
    """`value` as literal Markdown text (inline, one line), clipped to `limit`
    characters of the value first when one is given."""
    text = _CONTROL.sub(" ", str(value))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def md_code(value: object) -> str:
    """`value` as an inline code span (one line), whatever backticks it holds."""
    text = _CONTROL.sub(" ", str(value))
    fence = "`" * (max((len(r) for r in _TICKS.findall(text)), default=0) + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "  # CommonMark strips one space each side
    return f"{fence}{text}{fence}"


def sa_value(value: str) -> str:
    """A Keyword search attribute value: control characters removed, clipped to SA_MAX."""
    return _CONTROL.sub(" ", value).strip()[:SA_MAX]
