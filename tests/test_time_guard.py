"""The guard in tests/conftest.py that keeps one broken test from hanging the rest of
the session: it must see a time-skipping server whose clock cannot move. Checked on a
server of this test's own, its clock locked on purpose through the test service (as an
activity task held by a stopped worker locks it)."""

from __future__ import annotations

from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import clock_moves, venv_binary


async def test_clock_guard_sees_a_locked_clock() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    async with env:
        test_service = env.client.test_service
        assert await clock_moves(env, timeout_s=10)
        await test_service.lock_time_skipping(LockTimeSkippingRequest())
        assert not await clock_moves(env, timeout_s=2)
        await test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        assert await clock_moves(env, timeout_s=10)
