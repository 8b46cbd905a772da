"""Runbook coverage: every step of a runbook, joined to the playbooks' declarations.

What a *step* is (the rule, checked against both seed runbooks):

- The section path is the headings above it, `##` and deeper (the `#` title is the
  runbook itself), plus a line that is bold and nothing else (`**Scenario A: ...**`,
  `**Step 1: Attempt Service Restart (0-2 minutes)**`), which the Genesis runbook uses
  as a sub-heading. Joined with " > ".
- A step is a list item at the left margin: a numbered item (`1. **Check Current
  Status**`) or a bullet (`- Test pass rate <95%`, `- [ ] Create post-mortem`). Its
  text, with `**` and a trailing colon removed, is its name. Indented lists and the
  fenced blocks under an item are the item's own detail, not steps.
- A fenced block at the left margin (not under an item) holds steps as the runbook
  writes them in it: its numbered comments (`# 1. Stop current service`) when it has
  any -- the lines between belong to the numbered step above them; otherwise each
  comment line (`# Try simple restart first`), and each command before the first
  comment.
- Descriptive sections hold no steps: Overview, Symptoms, Detection (alert source,
  symptoms, impact), Communication Templates and Contact Information.

A step's id is (runbook, section, name): the runbook is the file's stem. Renaming a
step in the runbook makes declarations naming the old text stale, which the tests catch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workflows.coverage import SHARED, Covers

ROOT = Path(__file__).resolve().parents[1]
# The seed runbooks, vendored in docs/runbooks/ (copies of the specification the
# playbooks carry out): a fresh clone and CI read exactly these.
RUNBOOK_DIRS = (ROOT / "docs" / "runbooks",)
SEED_NAMES = ("genesis-incident-response-playbook.md", "agent-lab-incident-playbooks.md")

DESCRIPTIVE = {
    "overview",
    "symptoms",
    "detection",
    "communication templates",
    "contact information",
}
NOT_COVERED = "not covered"
STATUSES = ("automated", "asks a person", "not applicable", NOT_COVERED)

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BOLD_LINE = re.compile(r"^\*\*([^*]+?)\*\*\s*$")
_NUMBERED = re.compile(r"^\d+\.\s+(.*)$")
_BULLET = re.compile(r"^[-*+]\s+(?:\[[ xX]\]\s+)?(.*)$")
_FENCE = re.compile(r"^(\s*)(```|~~~)")
_NUMBERED_COMMENT = re.compile(r"^\s*#\s*\d+\.\s+(.*)$")
_COMMENT = re.compile(r"^\s*#(?!!)\s*(.*)$")


@dataclass(frozen=True)
class Step:
    runbook: str
    section: str
    name: str
    line: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.runbook, self.section, self.name)

    @property
    def top(self) -> str:
        """The runbook's top-level section (its `##` heading)."""
        return self.section.split(" > ", 1)[0]


def clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("**", "")).strip().rstrip(":").strip()


def _block_steps(lines: list[str]) -> list[str]:
    numbered = [m.group(1) for ln in lines if (m := _NUMBERED_COMMENT.match(ln))]
    if numbered:
        return [clean(n) for n in numbered]
    out: list[str] = []
    seen_comment = False
    for ln in lines:
        if not ln.strip() or ln.lstrip().startswith("#!"):
            continue
        if m := _COMMENT.match(ln):
            seen_comment = True
            if m.group(1).strip():
                out.append(clean(m.group(1)))
        elif not seen_comment and not ln.startswith((" ", "\t")):
            out.append(clean(ln))
    return out


def parse(text: str, runbook: str) -> list[Step]:
    """The steps of one runbook, in document order (see the module docstring)."""
    steps: list[Step] = []
    headings: list[tuple[int, str]] = []  # (level, title); a bold line is level 7
    fence: tuple[str, list[str], int] | None = None  # (indent, lines, start line)

    def section() -> str:
        return " > ".join(t for _, t in headings)

    def descriptive() -> bool:
        return not headings or any(t.lower() in DESCRIPTIVE for _, t in headings)

    def add(name: str, line: int) -> None:
        if not name or descriptive():
            return
        sec, unique, n = section(), name, 2
        while any(s.section == sec and s.name == unique for s in steps):
            unique, n = f"{name} ({n})", n + 1
        steps.append(Step(runbook, sec, unique, line))

    for no, raw in enumerate(text.splitlines(), start=1):
        if fence is not None:
            if _FENCE.match(raw):
                indent, body, start = fence
                fence = None
                if not indent:
                    for name in _block_steps(body):
                        add(name, start)
            else:
                fence[1].append(raw)
            continue
        if m := _FENCE.match(raw):
            fence = (m.group(1), [], no)
            continue
        if m := _HEADING.match(raw):
            level = len(m.group(1))
            if level == 1:
                headings = []
                continue
            headings = [(lv, t) for lv, t in headings if lv < level] + [(level, m.group(2))]
            continue
        if m := _BOLD_LINE.match(raw):
            headings = [(lv, t) for lv, t in headings if lv < 7] + [(7, clean(m.group(1)))]
            continue
        if m := _NUMBERED.match(raw):
            add(clean(m.group(1)), no)
        elif m := _BULLET.match(raw):
            add(clean(m.group(1)), no)
    return steps


def runbook_id(path: Path) -> str:
    return path.stem


def seed_paths() -> list[Path]:
    """The two seed runbooks, from the first directory holding both."""
    for d in RUNBOOK_DIRS:
        paths = [d / n for n in SEED_NAMES]
        if all(p.is_file() for p in paths):
            return paths
    raise FileNotFoundError(
        "seed runbooks not found in " + " or ".join(str(d) for d in RUNBOOK_DIRS)
    )


def read_steps(paths: Iterable[Path]) -> list[Step]:
    out: list[Step] = []
    for p in paths:
        out.extend(parse(p.read_text(encoding="utf-8"), runbook_id(p)))
    return out


def declarations() -> list[Covers]:
    """Every declaration: the shared ones and each registered playbook module's
    `COVERAGE` (imported, never run)."""
    import importlib

    from workflows.registry import PLAYBOOKS
    from workflows.steps import followups

    out = list(SHARED) + followups.COVERAGE
    seen: set[str] = set()
    for cls in PLAYBOOKS.values():
        mod = cls.__module__
        if mod in seen:
            continue
        seen.add(mod)
        out.extend(getattr(importlib.import_module(mod), "COVERAGE", []))
    return out


@dataclass
class Row:
    """One step, its status and the declarations on it (deviations included)."""

    step: Step
    status: str
    covers: list[Covers] = field(default_factory=list)

    @property
    def playbooks(self) -> list[str]:
        return sorted({c.playbook for c in self.covers})


def status_of(covers: list[Covers]) -> str:
    hows = {c.how for c in covers}
    for s in STATUSES[:3]:
        if s in hows:
            return s
    return NOT_COVERED


def join(steps: list[Step], decls: list[Covers]) -> tuple[list[Row], list[Covers]]:
    """Rows for the steps, and the declarations that name no step of these runbooks
    (stale) -- only for runbooks among the steps'."""
    by_key: dict[tuple[str, str, str], list[Covers]] = {}
    for d in decls:
        by_key.setdefault((d.runbook, d.section, d.step), []).append(d)
    rows = [Row(s, status_of(by_key.get(s.key, [])), by_key.get(s.key, [])) for s in steps]
    known = {s.key for s in steps}
    runbooks = {s.runbook for s in steps}
    stale = [
        d for d in decls if d.runbook in runbooks and (d.runbook, d.section, d.step) not in known
    ]
    return rows, stale


@dataclass
class Tally:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    deviations: int = 0
    playbooks: set[str] = field(default_factory=set)

    def add(self, row: Row) -> None:
        self.counts[row.status] += 1
        self.deviations += sum(1 for c in row.covers if c.how == "deviation")
        self.playbooks.update(row.playbooks)


def tally(rows: list[Row]) -> dict[str, dict[str, Tally]]:
    """runbook -> top-level section (with its playbooks) -> counts."""
    out: dict[str, dict[str, Tally]] = {}
    for r in rows:
        out.setdefault(r.step.runbook, {}).setdefault(r.step.top, Tally()).add(r)
    return out


def _total(sections: dict[str, Tally]) -> Tally:
    t = Tally()
    for s in sections.values():
        for k, v in s.counts.items():
            t.counts[k] += v
        t.deviations += s.deviations
    return t


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _playbooks(t: Tally) -> str:
    return ", ".join(sorted(t.playbooks)) or "—"


def text_report(rows: list[Row], table: bool = False) -> str:
    lines: list[str] = []
    for runbook, sections in tally(rows).items():
        total = _total(sections)
        lines.append(f"{runbook}: {sum(total.counts.values())} steps")
        lines.append(
            f"  {'automated':>9} {'asks':>5} {'n.a.':>5} {'not cov.':>8} {'dev.':>5}  "
            "section -> playbooks"
        )
        for name, t in [*sections.items(), ("total", total)]:
            c = t.counts
            who = "" if name == "total" else f" -> {_playbooks(t)}"
            lines.append(
                f"  {c['automated']:>9} {c['asks a person']:>5} {c['not applicable']:>5} "
                f"{c[NOT_COVERED]:>8} {t.deviations:>5}  {name}{who}"
            )
        lines.append("")
    if table:
        for r in rows:
            lines.append(f"[{r.status}] {r.step.runbook}: {r.step.section} > {r.step.name}")
            for d in r.covers:
                note = "; ".join(x for x in (d.where, d.why) if x)
                lines.append(f"    {d.how} ({d.playbook}): {note}")
    return "\n".join(lines).rstrip() + "\n"


def markdown_report(rows: list[Row]) -> str:
    out: list[str] = []
    for runbook, sections in tally(rows).items():
        total = _total(sections)
        out += [
            f"**{runbook}** ({sum(total.counts.values())} steps)",
            "",
            "| section | playbooks | automated | asks a person | not applicable "
            "| not covered | deviations |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, t in [*sections.items(), ("**total**", total)]:
            c = t.counts
            who = "" if name == "**total**" else _playbooks(t)
            out.append(
                f"| {_cell(name)} | {_cell(who)} | {c['automated']} | {c['asks a person']} | "
                f"{c['not applicable']} | {c[NOT_COVERED]} | {t.deviations} |"
            )
        out += ["", "| section | step | how | playbook | where / why |", "|---|---|---|---|---|"]
        for r in (r for r in rows if r.step.runbook == runbook):
            sec = _cell(r.step.section)
            if not r.covers:
                out.append(f"| {sec} | {_cell(r.step.name)} | **not covered** | — | |")
            for d in r.covers:
                note = " — ".join(x for x in (d.where, d.why) if x)
                out.append(
                    f"| {sec} | {_cell(r.step.name)} | {d.how} | {_cell(d.playbook)} "
                    f"| {_cell(note)} |"
                )
        out.append("")
    return "\n".join(out).rstrip() + "\n"
