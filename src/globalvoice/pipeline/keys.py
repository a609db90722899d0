"""Stage versions and derivation keys. Bump a VERSION when that stage's output changes."""

from globalvoice.domain.artifacts import derive_key

__all__ = [
    "diarization_key",
    "fit_key",
    "speech_key",
    "synth_key",
    "transcript_key",
    "translation_key",
]

VAD_VERSION = 1
TRANSCRIBE_VERSION = 2
TRANSLATE_VERSION = 1
SYNTHESIZE_VERSION = 1
FIT_VERSION = 1
DIARIZE_VERSION = 1


def speech_key(input_digest: str, vad: str) -> str:
    return derive_key("vad", VAD_VERSION, input=input_digest, engine=vad)


def transcript_key(input_digest: str, stt: str, language: str | None, multilingual: bool) -> str:
    return derive_key(
        "transcribe",
        TRANSCRIBE_VERSION,
        input=input_digest,
        engine=stt,
        language=language or "auto",
        multilingual=multilingual,
    )


def translation_key(text: str, source: str, target: str, mt: str) -> str:
    return derive_key(
        "translate", TRANSLATE_VERSION, text=text, source=source, target=target, engine=mt
    )


def synth_key(text: str, language: str, voice: str, tts: str, speed_permille: int) -> str:
    return derive_key(
        "synthesize",
        SYNTHESIZE_VERSION,
        text=text,
        language=language,
        voice=voice,
        engine=tts,
        speed=speed_permille,
    )


def fit_key(natural_key: str, slot_ms: int, max_tempo_permille: int, stretch: str) -> str:
    return derive_key(
        "fit",
        FIT_VERSION,
        take=natural_key,
        slot_ms=slot_ms,
        cap=max_tempo_permille,
        stretch=stretch,
    )


def diarization_key(input_digest: str, vad: str, embedder: str, speakers: int | None) -> str:
    return derive_key(
        "diarize",
        DIARIZE_VERSION,
        input=input_digest,
        vad=vad,
        engine=embedder,
        speakers=speakers if speakers is not None else "auto",
    )
