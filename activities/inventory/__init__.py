"""The typed inventory, one module per YAML section; import every name from here.

    defaults:            defaults.py   Defaults, ThresholdOverrides, WaitOverrides
    hosts:               hosts.py      HostSpec
    services:            services.py   ServiceSpec, resolve_command
      commands, startup_logs, import_check, smoke_test
                         commands.py   CommandSpec
      rollback, ci_rollback
                         rollback.py   RollbackSpec, CiRollbackSpec
      slis               slis.py       SliSpec
      allowed_commands   allowlist.py  ArgPattern, ShellCommand (whole-argv allowlist)
      security           security.py   SecuritySpec, ContainmentStep
      mitigations, testing, diagnostics, safety, agent_lab, data_integrity, recurrence:
                         workflows/contracts/ (workflows read them too)
    redact:              redact.py     the patterns scrubbed from command output
    routes:, safety:     model.py      Inventory: the whole file, checked across sections
    (the file)           loader.py     load_inventory, InventoryError

Errors name the file, the YAML path and the problem.
"""

from activities.inventory.allowlist import ArgPattern, ShellCommand
from activities.inventory.commands import CommandSpec
from activities.inventory.defaults import Defaults, Seconds, ThresholdOverrides, WaitOverrides
from activities.inventory.hosts import HostSpec
from activities.inventory.loader import InventoryError, load_inventory
from activities.inventory.model import Inventory, InventoryActivities
from activities.inventory.rollback import CiRollbackSpec, RollbackSpec
from activities.inventory.security import ContainmentStep, SecuritySpec
from activities.inventory.services import ServiceSpec, resolve_command
from activities.inventory.slis import SliSpec

__all__ = [
    "ArgPattern",
    "CiRollbackSpec",
    "CommandSpec",
    "ContainmentStep",
    "Defaults",
    "HostSpec",
    "Inventory",
    "InventoryActivities",
    "InventoryError",
    "RollbackSpec",
    "SecuritySpec",
    "Seconds",
    "ServiceSpec",
    "ShellCommand",
    "SliSpec",
    "ThresholdOverrides",
    "WaitOverrides",
    "load_inventory",
    "resolve_command",
]
