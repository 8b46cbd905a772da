"""Alert text shown where it could be read as markup: one place to make it literal.

Label and annotation values come from whoever can reach Alertmanager. In the Temporal
UI's Markdown summaries a backtick would break out of a code span and `[x](https://..)`
would render as a link; in search attributes a value would be stored raw and unbounded.
Pure Python: workflows import it (no I/O library)."""

from __future__ import annotations

import re

# Every character CommonMark lets a backslash escape (ASCII punctuation).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:;$%@^,/?])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SA_MAX = 256  # characters kept in a search attribute value


def md(text: str, limit: int = 300) -> str:
    """`text` as literal Markdown: control characters removed, clipped to `limit`, every
    punctuation character backslash-escaped (renders as itself, never as markup)."""
    clean = _CONTROL.sub(" ", text)
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", clean)


def sa_value(text: str) -> str:
    """A Keyword search attribute value: control characters removed, clipped to SA_MAX."""
    clean = _CONTROL.sub(" ", text).strip()
    return clean[:SA_MAX]
