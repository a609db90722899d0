"""A speaker's voice profile: the synthesis voice chosen for them and the DSP that moves it
toward their pitch and timbre, built once per speaker and used for every line of theirs.

Everything here is a frozen dataclass of ints, floats, strings and tuples: pydantic's
TypeAdapter serialises it, and `VoiceProfile.to_dict` / `from_dict` give a self-contained JSON
form for storage (a voice library keeps profiles across videos). The profile holds the speaker's
embedding, which is biometric data: whoever stores a profile must be able to delete it.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "PROFILE_SCHEMA",
    "DspMatch",
    "VoiceBlend",
    "VoiceProfile",
    "parse_voice_spec",
]

PROFILE_SCHEMA = "globalvoice.voice_profile/1"
_WEIGHT_DIGITS = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceBlend:
    """A TTS voice: one shipped voice, or a convex mix of shipped voices' style vectors.

    `weights` pairs voice names with weights > 0 that sum to 1 (to `_WEIGHT_DIGITS` decimals),
    sorted by name, so one mix has one spelling and one cache key."""

    weights: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("a voice blend needs at least one voice")
        names = [name for name, _ in self.weights]
        if names != sorted(set(names)):
            raise ValueError(f"voice blend names must be sorted and unique: {names}")
        if any(w <= 0 for _, w in self.weights) or abs(sum(w for _, w in self.weights) - 1) > 1e-6:
            raise ValueError(f"voice blend weights must be positive and sum to 1: {self.weights}")

    @classmethod
    def of(cls, weights: Mapping[str, float]) -> "VoiceBlend":
        """Normalised, rounded, sorted; zero weights dropped."""
        kept = {name: w for name, w in weights.items() if w > 0}
        total = sum(kept.values())
        if not kept or total <= 0:
            raise ValueError("a voice blend needs a positive weight")
        rounded = {n: round(w / total, _WEIGHT_DIGITS) for n, w in sorted(kept.items())}
        rounded = {n: w for n, w in rounded.items() if w > 0}
        largest = max(rounded, key=lambda n: rounded[n])
        rounded[largest] = round(rounded[largest] + 1 - sum(rounded.values()), _WEIGHT_DIGITS)
        return cls(weights=tuple(rounded.items()))

    @classmethod
    def single(cls, name: str) -> "VoiceBlend":
        return cls(weights=((name, 1.0),))

    @property
    def spec(self) -> str:
        """The voice argument a Synthesizer takes: "jf_alpha" or "jf_alpha*0.7+jm_kumo*0.3"."""
        if len(self.weights) == 1:
            return self.weights[0][0]
        return "+".join(f"{name}*{weight:.{_WEIGHT_DIGITS}f}" for name, weight in self.weights)


def parse_voice_spec(spec: str) -> VoiceBlend:
    """The blend a `VoiceBlend.spec` string names (a plain voice name is a blend of one)."""
    if "*" not in spec:
        return VoiceBlend.single(spec)
    weights: dict[str, float] = {}
    for part in spec.split("+"):
        name, _, weight = part.partition("*")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            raise ValueError(f"bad voice spec {spec!r}") from None
    return VoiceBlend.of(weights)


@dataclass(frozen=True, slots=True, kw_only=True)
class DspMatch:
    """WORLD-vocoder matching of a TTS voice toward a speaker, fitted once per speaker.

    F0: log F0 is shifted from the voice's mean to the speaker's and its spread around it scaled
    by `f0_range`. Formants: the spectral envelope's frequency axis is scaled by `formant_warp`
    (>1 raises the formants). Timbre: the smoothed long-term envelope difference, `eq_db[i]` dB
    at `i * eq_step_hz`, held beyond the last point, is added to every frame.
    """

    voice_f0_hz: float
    speaker_f0_hz: float
    f0_range: float
    formant_warp: float
    eq_step_hz: int
    eq_db: tuple[float, ...]

    @property
    def fingerprint(self) -> str:
        """Changes whenever the processing would (values to 3 decimals, as stored)."""
        return _digest(asdict(self))[:16]


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceProfile:
    """One speaker's voice. `reference_spans_ms` are the (start, end) ms of their clean speech
    on the source timeline the profile was fitted on; `embedding` is the speaker's (L2-normalised,
    by the engine `embedder`); `similarity` is the cosine between that embedding and the chosen
    voice's matched reference sentence (same embedder); `tts` is the synthesizer's fingerprint."""

    speaker_id: str
    reference_spans_ms: tuple[tuple[int, int], ...]
    embedding: tuple[float, ...]
    voice: VoiceBlend
    dsp: DspMatch | None
    similarity: float
    embedder: str
    tts: str
    schema: str = PROFILE_SCHEMA

    @property
    def fingerprint(self) -> str:
        """What a line synthesized with this profile depends on: voice, DSP and TTS engine
        (not the embedding or the spans, which only chose them)."""
        dsp = self.dsp.fingerprint if self.dsp is not None else "none"
        return _digest({"voice": self.voice.spec, "dsp": dsp, "tts": self.tts})[:16]

    @property
    def reference_ms(self) -> int:
        return sum(end - start for start, end in self.reference_spans_ms)

    def summary(self) -> dict[str, Any]:
        """The profile for people (manifests, APIs): everything but the biometric embedding."""
        data = self.to_dict()
        del data["embedding"]
        return {"fingerprint": self.fingerprint, **data}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["voice"] = {"spec": self.voice.spec, "weights": dict(self.voice.weights)}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "VoiceProfile":
        if data.get("schema", PROFILE_SCHEMA) != PROFILE_SCHEMA:
            raise ValueError(f"unknown voice profile schema {data.get('schema')!r}")
        dsp = data.get("dsp")
        return cls(
            speaker_id=str(data["speaker_id"]),
            reference_spans_ms=tuple((int(a), int(b)) for a, b in data["reference_spans_ms"]),
            embedding=tuple(float(x) for x in data["embedding"]),
            voice=VoiceBlend.of(data["voice"]["weights"]),
            dsp=None
            if dsp is None
            else DspMatch(
                voice_f0_hz=float(dsp["voice_f0_hz"]),
                speaker_f0_hz=float(dsp["speaker_f0_hz"]),
                f0_range=float(dsp["f0_range"]),
                formant_warp=float(dsp["formant_warp"]),
                eq_step_hz=int(dsp["eq_step_hz"]),
                eq_db=tuple(float(x) for x in dsp["eq_db"]),
            ),
            similarity=float(data["similarity"]),
            embedder=str(data["embedder"]),
            tts=str(data["tts"]),
        )


def _digest(value: Any) -> str:
    def rounded(item: Any) -> Any:
        if isinstance(item, float):
            return round(item, 3)
        if isinstance(item, dict):
            return {k: rounded(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [rounded(v) for v in item]
        return item

    text = json.dumps(rounded(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
