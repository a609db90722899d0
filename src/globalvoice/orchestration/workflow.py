"""DubWorkflow: one per dub. Analyse once, then each target language runs translate ->
synthesize -> assemble on its own pool's queue, targets in parallel; finish publishes the rest.

Workflow code must be deterministic: it only schedules activities and passes references.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from globalvoice.orchestration.jobs import DubJob
    from globalvoice.orchestration.messages import (
        Analysed,
        FinishInput,
        TargetInput,
        TargetResult,
    )
    from globalvoice.orchestration.queues import Pool, task_queue

__all__ = ["DubWorkflow", "StepTimeouts"]

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)


class StepTimeouts:
    # A worker that dies stops heartbeating: its activity moves to another worker this soon.
    HEARTBEAT = timedelta(seconds=20)
    LONG = timedelta(hours=2)
    SHORT = timedelta(minutes=10)


@workflow.defn(name="DubWorkflow")
class DubWorkflow:
    def __init__(self) -> None:
        self._prefix = "globalvoice"

    async def _run(
        self, name: str, arg: object, pool: Pool, *, long: bool = True, result: type = TargetResult
    ) -> object:
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result,
            task_queue=task_queue(self._prefix, pool),
            start_to_close_timeout=StepTimeouts.LONG if long else StepTimeouts.SHORT,
            heartbeat_timeout=StepTimeouts.HEARTBEAT if long else None,
            retry_policy=_RETRY,
        )

    async def _target(self, job: DubJob, analysed: Analysed, target: str) -> list[TargetResult]:
        step = TargetInput(job=job, analysis_key=analysed.analysis_key, target=target)
        if analysed.line_count == 0:  # nothing to dub: publish the source unchanged
            done = await self._run("assemble", step, Pool.MEDIA)
            return [_result(done)]
        translated = _result(await self._run("translate", step, Pool.MT))
        step = TargetInput(
            job=job,
            analysis_key=analysed.analysis_key,
            target=target,
            translated_key=translated.key,
        )
        rendered = _result(await self._run("synthesize", step, Pool.TTS))
        step = TargetInput(
            job=job,
            analysis_key=analysed.analysis_key,
            target=target,
            translated_key=translated.key,
            rendered_key=rendered.key,
            speech_key=rendered.speech_key,
        )
        assembled = _result(await self._run("assemble", step, Pool.MEDIA))
        return [translated, rendered, assembled]

    @workflow.run
    async def run(self, job: DubJob, queue_prefix: str) -> str:
        self._prefix = queue_prefix
        try:
            analysed = await self._run("analyse", job, Pool.STT, result=Analysed)
            if not isinstance(analysed, Analysed):
                raise TypeError("analyse returned no Analysed")
            chains = await asyncio.gather(*(self._target(job, analysed, t) for t in job.targets))
            finish = FinishInput(
                job=job,
                analysed=analysed,
                targets=[chain[-1] for chain in chains],
                translations=[chain[0] for chain in chains if len(chain) == 3],
                renders=[chain[1] for chain in chains if len(chain) == 3],
            )
            await self._run("finish", finish, Pool.MEDIA, long=False, result=type(None))
            return "succeeded"
        except asyncio.CancelledError:
            await self._record("mark_cancelled", [job.dub_id])
            raise
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, CancelledError):  # the cancel reached a running activity
                await self._record("mark_cancelled", [job.dub_id])
                raise asyncio.CancelledError from err
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                code, message = cause.type or "input.invalid", cause.message
            else:
                code, message = "internal", "The dub failed after retries; try again later."
            await self._record("mark_failed", [job.dub_id, code, message])
            raise ApplicationError(message, type=code, non_retryable=True) from err

    async def _record(self, name: str, args: list[str]) -> None:
        # Runs even after a cancel request: the workflow ends only when the error propagates.
        await workflow.execute_activity(
            name,
            args=args,
            task_queue=task_queue(self._prefix, Pool.MEDIA),
            start_to_close_timeout=StepTimeouts.SHORT,
            retry_policy=_RETRY,
        )


def _result(value: object) -> TargetResult:
    if not isinstance(value, TargetResult):
        raise TypeError("a target step returned no TargetResult")
    return value
