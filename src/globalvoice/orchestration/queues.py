"""Task queues, one per worker pool, so each pool scales on its own backlog."""

from enum import StrEnum

__all__ = ["Pool", "task_queue"]


class Pool(StrEnum):
    STT = "stt"  # probe, VAD, transcription, casting (GPU in production)
    MT = "mt"  # translation
    TTS = "tts"  # synthesis and timing fit (GPU in production)
    MEDIA = "media"  # mixing, loudness, encoding, muxing, publishing outputs (CPU)
    SEPARATE = "separate"  # dialogue/background separation (GPU with a production model)
    LIPSYNC = (
        "lipsync"  # faces tracked and redrawn, the picture re-encoded (GPU with an ONNX model)
    )


def task_queue(prefix: str, pool: Pool) -> str:
    return f"{prefix}-{pool.value}"
