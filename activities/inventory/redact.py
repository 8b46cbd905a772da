"""`redact:` -- what captured command output may keep (issue 8, SSH hardening).

Captured stdout/stderr is scrubbed of secret-looking text before it becomes an activity
result -- that is, before it enters workflow history. The inventory's top-level
`redact: [regex, ...]` adds to DEFAULT_REDACT. A pattern with a named group `secret`
masks only that group (keeping `password=` readable), any other pattern masks its whole
match. Inventory compiles them once and binds them to every host (model.py);
activities/ssh.py applies them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

MASK = "[REDACTED]"
DEFAULT_REDACT: tuple[str, ...] = (
    r"(?i)(?:password|passwd|token|secret|api[_-]?key)\s*[=:]\s*(?P<secret>\S+)",
    r"(?i)authorization\s*:\s*(?:bearer|basic|token)\s+(?P<secret>\S+)",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
    r"://[^/\s:@]+:(?P<secret>[^@\s/]+)@",  # credentials in a URL
    r"\bAKIA[0-9A-Z]{16}\b",  # AWS access key id
)


def compile_patterns(extra: Iterable[str] = ()) -> tuple[re.Pattern[str], ...]:
    """DEFAULT_REDACT plus `extra`; a bad regex raises ValueError naming it."""
    out = []
    for i, src in enumerate((*DEFAULT_REDACT, *extra)):
        try:
            out.append(re.compile(src))
        except re.error as err:
            where = f"redact[{i - len(DEFAULT_REDACT)}]" if i >= len(DEFAULT_REDACT) else src
            raise ValueError(f"{where}: invalid regex {src!r}: {err}") from None
    return tuple(out)


DEFAULT_PATTERNS = compile_patterns()


def redact(text: str, patterns: Sequence[re.Pattern[str]] = DEFAULT_PATTERNS) -> str:
    for p in patterns:
        if "secret" in p.groupindex:

            def keep_key(m: re.Match[str]) -> str:
                if m.start("secret") < 0:
                    return m.group(0)
                s, e = m.start("secret") - m.start(), m.end("secret") - m.start()
                return m.group(0)[:s] + MASK + m.group(0)[e:]

            text = p.sub(keep_key, text)
        else:
            text = p.sub(MASK, text)
    return text
