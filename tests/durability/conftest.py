"""The bridge tests' dev server and per-test namespaces, for the flapping test (which
drives the bridge app); the other durability tests bring their own servers."""

from tests.bridge.conftest import dev_server, make_harness, temporal  # noqa: F401
