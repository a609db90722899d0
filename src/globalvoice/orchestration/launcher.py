"""Starting and cancelling dubs on Temporal (the API's DubLauncher)."""

from contextlib import suppress

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from globalvoice.orchestration.jobs import DubJob
from globalvoice.orchestration.queues import Pool, task_queue
from globalvoice.orchestration.workflow import DubWorkflow
from globalvoice.storage.layout import workflow_id

__all__ = ["TemporalLauncher"]


class TemporalLauncher:
    def __init__(self, client: Client, *, queue_prefix: str) -> None:
        self._client = client
        self._prefix = queue_prefix

    async def start(self, job: DubJob) -> str:
        wf_id = workflow_id(job.dub_id)
        with suppress(WorkflowAlreadyStartedError):  # idempotent: already running or ran
            await self._client.start_workflow(
                DubWorkflow.run,
                args=[job, self._prefix],
                id=wf_id,
                task_queue=task_queue(self._prefix, Pool.MEDIA),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        return wf_id

    async def cancel(self, dub_id: str) -> None:
        handle: WorkflowHandle[DubWorkflow, str] = self._client.get_workflow_handle(
            workflow_id(dub_id)
        )
        with suppress(RPCError):  # already finished, or never started
            await handle.cancel()

    async def wait(self, dub_id: str) -> str:
        """Wait for the dub's workflow to end (tests and the CLI use this)."""
        handle: WorkflowHandle[DubWorkflow, str] = self._client.get_workflow_handle(
            workflow_id(dub_id)
        )
        return await handle.result()
