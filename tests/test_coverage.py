"""Runbook coverage (remedy/coverage.py, `remedy coverage`): the seeds' steps are found,
every declaration names a real step, no step of the two seed runbooks is left neither
covered nor declared not applicable, and the README's table is the command's output."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from remedy import coverage as cov
from remedy.cli import app
from workflows.coverage import AGENT_LAB as A
from workflows.coverage import GENESIS as G
from workflows.registry import PLAYBOOKS

ROOT = Path(__file__).resolve().parents[1]

# Steps per seed runbook under the rule in remedy/coverage.py's docstring. A runbook
# edit that adds, removes or splits steps changes these: check `remedy coverage --table`
# shows the new steps as you expect, then update the numbers (and the declarations).
STEP_COUNTS = {G: 124, A: 113}


def rows() -> tuple[list[cov.Row], list]:
    return cov.join(cov.read_steps(cov.seed_paths()), cov.declarations())


def test_parser_finds_the_steps_of_both_seeds() -> None:
    steps = cov.read_steps(cov.seed_paths())
    counts = {rb: sum(1 for s in steps if s.runbook == rb) for rb in STEP_COUNTS}
    assert counts == STEP_COUNTS
    assert len({s.key for s in steps}) == len(steps)  # ids are unique


def test_parser_rule() -> None:
    text = """# Title
## Incident: X
### Symptoms
- not a step
### Diagnosis Steps
1. **Check Status**:
   ```bash
   # 1. not a step (under an item)
   systemctl status x
   ```
   - nested, not a step
**Step 1: Restart**
```bash
# Try simple restart first
systemctl restart x
sleep 30
```
### Rollback Steps
```bash
#!/bin/bash
set -e
# 1. Stop current service
systemctl stop x
# not numbered: part of step 1
# 2. Start it
```
- [ ] Create post-mortem
"""
    got = [(s.section, s.name) for s in cov.parse(text, "rb")]
    assert got == [
        ("Incident: X > Diagnosis Steps", "Check Status"),
        ("Incident: X > Diagnosis Steps > Step 1: Restart", "Try simple restart first"),
        ("Incident: X > Rollback Steps", "Stop current service"),
        ("Incident: X > Rollback Steps", "Start it"),
        ("Incident: X > Rollback Steps", "Create post-mortem"),
    ]


def test_every_declaration_names_a_step_that_exists() -> None:
    _, stale = rows()
    assert stale == [], "stale declarations (renamed or removed runbook steps): " + "; ".join(
        f"{d.playbook}: {d.section} > {d.step}" for d in stale
    )


def test_declarations_are_well_formed() -> None:
    for d in cov.declarations():
        assert d.runbook in (G, A) and d.playbook, d
        assert d.how in ("automated", "asks a person", "not applicable", "deviation"), d
        if d.how in ("automated", "asks a person", "deviation"):
            assert d.where, f"{d}: say where"
        if d.how in ("not applicable", "deviation"):
            assert d.why, f"{d}: say why"


def test_every_playbook_module_declares_its_coverage() -> None:
    import importlib

    for cls in PLAYBOOKS.values():
        if cls.__module__.startswith("workflows.playbooks."):
            mod = importlib.import_module(cls.__module__)
            assert isinstance(getattr(mod, "COVERAGE", None), list), cls.__module__


def test_no_step_of_the_seeds_is_left_uncovered() -> None:
    """Every step of the two seed runbooks is automated, asked of a person, or declared
    not applicable (with why). A runbook edit that adds a step fails here until the
    playbook that carries it out (or asks for it) declares it."""
    gaps = sorted((r.step.section, r.step.name) for r in rows()[0] if r.status == cov.NOT_COVERED)
    assert not gaps, f"steps neither covered nor declared not applicable: {gaps}"


def test_cli_counts_and_check() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["coverage"])
    assert res.exit_code == 0, res.output
    assert "genesis-incident-response-playbook: 124 steps" in res.output
    # --check passes: no step of the seeds is left uncovered (it fails on a gap: below).
    res = runner.invoke(app, ["coverage", "--check"])
    assert res.exit_code == 0, res.output
    assert "not cov." in res.output


def test_cli_on_a_runbook_excerpt_and_an_unknown_runbook(tmp_path: Path) -> None:
    src = cov.seed_paths()[0].read_text(encoding="utf-8")
    part = src[src.index("## Rollback Procedure") : src.index("## Post-Incident Checklist")]
    rb = tmp_path / f"{G}.md"
    rb.write_text("# Genesis\n\n" + part, encoding="utf-8")
    res = CliRunner().invoke(app, ["coverage", str(rb), "--check", "--table"])
    # Declarations for the rest of the runbook are stale for this excerpt.
    assert "[automated] " + G + ": Rollback Procedure > Rollback Steps > Stop current service" in (
        res.output
    )
    unknown = tmp_path / "other.md"
    unknown.write_text("# Other\n\n## Incident: Y\n\n1. Do a thing\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["coverage", str(unknown), "--check"])
    assert res.exit_code == 1 and "1 steps not covered" in res.output
    res = CliRunner().invoke(app, ["coverage", str(unknown)])
    assert res.exit_code == 0  # a report


def test_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- coverage:begin -->\n(.*?)<!-- coverage:end -->", readme, re.S)
    assert m, "README: the Runbook coverage section's markers are missing"
    expected = cov.markdown_report(rows()[0])
    assert m.group(1) == expected, (
        "README's coverage table is stale: replace it with `remedy coverage --format markdown`"
    )


def test_declarations_module_is_data_only() -> None:
    text = (ROOT / "workflows" / "coverage.py").read_text(encoding="utf-8")
    imports = re.findall(r"^(?:from|import) (\S+)", text, re.M)
    assert set(imports) <= {"__future__", "dataclasses", "typing"}, imports
