"""Workers: one Temporal worker per pool on its own task queue; any process may run any pools."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from globalvoice.orchestration.activities import DubActivities
from globalvoice.orchestration.context import WorkerContext
from globalvoice.orchestration.publish import FinishActivities
from globalvoice.orchestration.queues import Pool, task_queue
from globalvoice.orchestration.workflow import DubWorkflow

__all__ = ["build_workers"]

# Model stages are CPU/GPU bound: one at a time per process; scale them with more processes.
_CONCURRENCY = {
    Pool.STT: 1,
    Pool.MT: 2,
    Pool.TTS: 1,
    Pool.MEDIA: 4,
    Pool.SEPARATE: 1,
    Pool.LIPSYNC: 1,  # its face landmarkers keep tracking state: one video at a time
}


def build_workers(
    client: Client,
    ctx: WorkerContext,
    pools: Sequence[Pool],
    *,
    executor: ThreadPoolExecutor,
) -> list[Worker]:
    dub, finish = DubActivities(ctx), FinishActivities(ctx)
    activities: dict[Pool, list[Any]] = {
        Pool.STT: [dub.analyse],
        Pool.MT: [dub.translate],
        Pool.TTS: [dub.synthesize],
        Pool.MEDIA: [dub.assemble, finish.finish, finish.mark_failed, finish.mark_cancelled],
        Pool.SEPARATE: [dub.separate],
        Pool.LIPSYNC: [dub.lipsync],
    }
    prefix = ctx.settings.service.task_queue_prefix
    return [
        Worker(
            client,
            task_queue=task_queue(prefix, pool),
            activities=activities[pool],
            workflows=[DubWorkflow] if pool is Pool.MEDIA else [],
            activity_executor=executor,
            max_concurrent_activities=_CONCURRENCY[pool],
        )
        for pool in pools
    ]
