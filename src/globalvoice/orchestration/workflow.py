"""DubWorkflow: one per dub. Analyse once (and separate the source beside the targets), then
each target language runs translate -> synthesize -> lipsync -> assemble on its own pool's
queue, targets in parallel; finish publishes the rest.

Workflow code must be deterministic: it only schedules activities and passes references.
"""

import asyncio
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from globalvoice.orchestration.activities import DubActivities
    from globalvoice.orchestration.jobs import DubJob
    from globalvoice.orchestration.messages import (
        Analysed,
        FinishInput,
        LipSynced,
        Separated,
        TargetChain,
        TargetInput,
    )
    from globalvoice.orchestration.publish import FinishActivities
    from globalvoice.orchestration.queues import Pool, task_queue

__all__ = ["RETRY", "DubWorkflow", "StepTimeouts"]

RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=5,
)


class StepTimeouts:
    # A worker that dies stops heartbeating: its activity moves to another worker this soon.
    HEARTBEAT = timedelta(seconds=20)
    # The lipsync step beats at each finished block of 250 frames (10-20 s on a CPU at 720p,
    # about twice that at 1080p) besides its side thread: 120 s lets a loaded worker finish a
    # block it is encoding even when the side thread's beats are held up, while a dead worker's
    # step still moves within two minutes, to resume after the last stored block.
    BLOCK_HEARTBEAT = timedelta(seconds=120)
    LONG = timedelta(hours=2)
    SHORT = timedelta(minutes=10)


@workflow.defn(name="DubWorkflow")
class DubWorkflow:
    def __init__(self) -> None:
        self._prefix = "globalvoice"

    def _on(
        self, pool: Pool, *, long: bool = True, heartbeat: timedelta = StepTimeouts.HEARTBEAT
    ) -> workflow.ActivityConfig:
        """Where and how long a step runs: long steps heartbeat, short ones (bookkeeping) not."""
        return workflow.ActivityConfig(
            task_queue=task_queue(self._prefix, pool),
            start_to_close_timeout=StepTimeouts.LONG if long else StepTimeouts.SHORT,
            heartbeat_timeout=heartbeat if long else None,
            retry_policy=RETRY,
        )

    async def _target(
        self,
        job: DubJob,
        analysed: Analysed,
        target: str,
        separated: "asyncio.Task[Separated] | None",
    ) -> TargetChain:
        step = TargetInput(job=job, analysis_key=analysed.analysis_key, target=target)
        if analysed.line_count == 0:  # nothing to dub: publish the source unchanged
            done = await workflow.execute_activity_method(
                DubActivities.assemble, step, **self._on(Pool.MEDIA)
            )
            return TargetChain(translated=None, rendered=None, assembled=done)
        translated = await workflow.execute_activity_method(
            DubActivities.translate, step, **self._on(Pool.MT)
        )
        step = replace(step, translated_key=translated.key)
        rendered = await workflow.execute_activity_method(
            DubActivities.synthesize, step, **self._on(Pool.TTS)
        )
        # the background, separated while this target was translated and synthesized
        stems = (await separated).stems if separated is not None else {}
        step = replace(
            step,
            rendered_key=rendered.key,
            speech_key=rendered.speech_key,
            background_key=stems.get("background", ""),
            dialogue_key=stems.get("dialogue", ""),
        )
        # after the separation: the speaking face is found by the dialogue stem
        lipsynced: LipSynced = await workflow.execute_activity_method(
            DubActivities.lipsync,
            step,
            **self._on(Pool.LIPSYNC, heartbeat=StepTimeouts.BLOCK_HEARTBEAT),
        )
        step = replace(step, redrawn_key=lipsynced.video_key)
        assembled = await workflow.execute_activity_method(
            DubActivities.assemble, step, **self._on(Pool.MEDIA)
        )
        return TargetChain(
            translated=translated, rendered=rendered, assembled=assembled, lipsynced=lipsynced
        )

    @workflow.run
    async def run(self, job: DubJob, queue_prefix: str) -> str:
        self._prefix = queue_prefix
        try:
            analysed = await workflow.execute_activity_method(
                DubActivities.analyse, job, **self._on(Pool.STT)
            )
            separated = None
            if analysed.line_count:
                step = TargetInput(job=job, analysis_key=analysed.analysis_key, target="")
                separated = asyncio.ensure_future(
                    workflow.execute_activity_method(
                        DubActivities.separate, step, **self._on(Pool.SEPARATE)
                    )
                )
            chains = await asyncio.gather(
                *(self._target(job, analysed, t, separated) for t in job.targets)
            )
            finish = FinishInput(
                job=job,
                analysed=analysed,
                chains=list(chains),
                separated=await separated if separated else None,
            )
            await workflow.execute_activity_method(
                FinishActivities.finish,
                finish,
                **self._on(Pool.MEDIA, long=False),
            )
            return "succeeded"
        except asyncio.CancelledError:
            await self._cancelled(job)
            raise
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, CancelledError):  # the cancel reached a running activity
                await self._cancelled(job)
                raise asyncio.CancelledError from err
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                code, message = cause.type or "input.invalid", cause.message
            else:
                code, message = "internal", "The dub failed after retries; try again later."
            await workflow.execute_activity_method(
                FinishActivities.mark_failed,
                args=[job.dub_id, code, message],
                **self._on(Pool.MEDIA, long=False),
            )
            raise ApplicationError(message, type=code, non_retryable=True) from err

    async def _cancelled(self, job: DubJob) -> None:
        # Runs even after a cancel request: the workflow ends only when the error propagates.
        await workflow.execute_activity_method(
            FinishActivities.mark_cancelled, job.dub_id, **self._on(Pool.MEDIA, long=False)
        )
