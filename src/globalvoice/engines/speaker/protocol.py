"""Speaker embeddings: a fixed-size vector per stretch of speech, close for the same voice."""

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from globalvoice.domain.audio import Pcm
from globalvoice.engines.base import EngineInfo

__all__ = ["SpeakerEmbedder"]


class SpeakerEmbedder(Protocol):
    @property
    def info(self) -> EngineInfo: ...

    @property
    def dim(self) -> int:
        """Length of every embedding."""
        ...

    @property
    def window_ms(self) -> int:
        """The span that fills the model's window; shorter spans are repeated to fill it."""
        ...

    def embed_spans(
        self, audio: Pcm, spans_ms: Sequence[tuple[int, int]]
    ) -> npt.NDArray[np.float32]:
        """One L2-normalised embedding per (start_ms, end_ms) span of `audio` (16 kHz mono).

        Returns shape (len(spans_ms), dim); cosine similarity is the dot product. Spans longer
        than `window_ms` are embedded as the normalised mean over windows covering the span.
        """
        ...
