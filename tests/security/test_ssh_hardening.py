"""SSH hardening against the real sshd fixture: jump host (the sshd as a bastion to
itself), strict host keys on both hops, the per-service allowlist (nothing is sent;
the whole-argv cases are in test_command_allowlist.py), and redaction of captured
output before it becomes a result."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from temporalio.exceptions import ApplicationError

from activities import ssh_connect
from activities.inventory import CommandSpec, Inventory, InventoryError, ServiceSpec, load_inventory
from activities.service import ServiceActivities
from activities.ssh import run_checked
from activities.ssh_policy import MASK, redact
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.service import CommandKind, ServiceCommandInput


def jump_inventory(
    sshd: SshServer, tmp_path: Path, *, bastion_kh: str, target_kh: str
) -> Inventory:
    kh_b, kh_t = tmp_path / "kh_bastion", tmp_path / "kh_target"
    kh_b.write_text(bastion_kh)
    kh_t.write_text(target_kh)
    return Inventory(
        hosts={
            "bastion": sshd.host_spec(known_hosts_file=kh_b),
            "target": sshd.host_spec(known_hosts_file=kh_t, jump_host="bastion"),
        },
        services={
            "app": ServiceSpec(
                hosts=["target"], allowed_commands=[["echo", "via-jump"], ["echo", "x"]]
            )
        },
    )


async def test_jump_host_tunnels_through_direct_tcpip(sshd: SshServer, tmp_path: Path) -> None:
    good = sshd.known_hosts_line()
    inv = jump_inventory(sshd, tmp_path, bastion_kh=good, target_kh=good)
    r = await run_checked(
        inv, "app", "target", ["echo", "via-jump"], timeout_s=10, max_output_bytes=1024
    )
    assert r.stdout == "via-jump\n" and r.host == "target"
    transport = ssh_connect.cache.get("target", inv.hosts["target"]).get_transport()
    assert transport is not None
    # The target's SSH session rides on a channel of the bastion's connection.
    assert isinstance(transport.sock, paramiko.Channel)


@pytest.mark.parametrize("bad_hop", ["bastion", "target"])
async def test_jump_host_keys_are_strict_on_both_hops(
    sshd: SshServer, tmp_path: Path, bad_hop: str
) -> None:
    good, wrong = sshd.known_hosts_line(), sshd.known_hosts_line(sshd.other_host_key_pub)
    kh = {"bastion": good, "target": good} | {bad_hop: wrong}
    inv = jump_inventory(sshd, tmp_path, bastion_kh=kh["bastion"], target_kh=kh["target"])
    with pytest.raises(ApplicationError) as info:
        await run_checked(inv, "app", "target", ["echo", "x"], timeout_s=10, max_output_bytes=99)
    assert info.value.type == "HostKeyChanged" and info.value.non_retryable


def test_jump_host_must_exist_and_not_loop(sshd: SshServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not defined"):
        Inventory(hosts={"t": sshd.host_spec(jump_host="nope")})
    with pytest.raises(ValueError, match="cycle"):
        Inventory(hosts={"a": sshd.host_spec(jump_host="b"), "b": sshd.host_spec(jump_host="a")})
    f = tmp_path / "inv.yaml"
    f.write_text("redact: ['(unclosed']\n")
    with pytest.raises(InventoryError, match="invalid regex"):
        load_inventory(f)


async def test_disallowed_program_is_refused_before_anything_is_sent(
    sshd: SshServer, tmp_path: Path
) -> None:
    marker = tmp_path / "should-not-exist"
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        commands={CommandKind.STATUS: CommandSpec(argv=["touch", str(marker)])},
        allowed_commands=[["echo", "up"], ["systemctl", "is-active", "app"]],
    )
    inv = sshd.inventory({"app": svc})

    def checked(argv: list[str]) -> object:
        return run_checked(inv, "app", HOST_NAME, argv, timeout_s=10, max_output_bytes=1024)

    for call in (
        ServiceActivities(inv).run(ServiceCommandInput(service="app", command=CommandKind.STATUS)),
        checked(["touch", str(marker)]),
        # Exact match: a path ending in an allowed name is another program.
        checked([str(tmp_path / "echo"), "up"]),
    ):
        with pytest.raises(ApplicationError) as info:
            await call
        assert info.value.type == "CommandNotAllowed" and info.value.non_retryable
    assert not marker.exists()


async def test_default_allowlist_is_the_services_own_commands(
    sshd: SshServer, tmp_path: Path
) -> None:
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        commands={CommandKind.STATUS: CommandSpec(argv=["echo", "up"])},
        log_files=[str(tmp_path / "app.log")],
    )
    inv = sshd.inventory({"app": svc})
    ok = await ServiceActivities(inv).run(
        ServiceCommandInput(service="app", command=CommandKind.STATUS)
    )
    assert ok.result.stdout == "up\n"
    # `tail` is allowed too: the derived log-tail command uses it.
    (tmp_path / "app.log").write_text("line\n")
    tail = ["tail", "-n", "100", str(tmp_path / "app.log")]
    r = await run_checked(inv, "app", HOST_NAME, tail, timeout_s=10, max_output_bytes=1024)
    assert r.stdout == "line\n"
    # ... exactly as derived: another line count is another command, and no shell.
    for argv in (["tail", "-n1", str(tmp_path / "app.log")], ["sh", "-c", "id"]):
        with pytest.raises(ApplicationError, match="not in the allowlist"):
            await run_checked(inv, "app", HOST_NAME, argv, timeout_s=10, max_output_bytes=1024)


async def test_secrets_are_redacted_from_captured_output(sshd: SshServer) -> None:
    script = (
        "echo 'db password=hunter2 ok'; echo 'Authorization: Bearer abc.def'; "
        "echo 'url https://bob:pw123@example.test/x'; echo 'sessionid 4242' >&2"
    )
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        commands={CommandKind.STATUS: CommandSpec(argv=[script], shell=True)},
    )
    inv = sshd.inventory({"app": svc})
    inv = Inventory.model_validate(inv.model_dump() | {"redact": [r"sessionid (?P<secret>\d+)"]})
    res = await ServiceActivities(inv).run(
        ServiceCommandInput(service="app", command=CommandKind.STATUS)
    )
    out, err = res.result.stdout, res.result.stderr
    for secret in ("hunter2", "abc.def", "pw123", "4242"):
        assert secret not in out + err, (out, err)
    assert f"password={MASK} ok" in out and f"sessionid {MASK}" in err
    assert f"https://bob:{MASK}@example.test/x" in out


def test_redact_defaults() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----"
    assert redact(f"k:\n{key}\nafter") == f"k:\n{MASK}\nafter"
    assert redact("API_KEY: xyz TOKEN=q") == f"API_KEY: {MASK} TOKEN={MASK}"
    assert redact("id AKIAABCDEFGHIJKLMNOP.") == f"id {MASK}."
    assert redact("nothing to see") == "nothing to see"
