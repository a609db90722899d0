"""Kokoro's phonemes in time, from the frame count its graph gives each token (kokoro.py's
durations session): one token per phoneme character, 25 ms frames, a pad token at each end.

Three offsets turn the frame counts into times in the take `synthesize` returns, measured with
scratch scripts on NTREX-128 sentences in es, pt, fr, it and en read by jf_alpha and jm_kumo:
- `HEAD_LEAD_MS`: kokoro-onnx trims each batch's head up to where a 2048-sample RMS window
  (centred, hop 512) comes within 60 dB of its peak. On 84 batches (rows 2, 25, 27, 28, 33, 44),
  synthesized untrimmed and trimmed with kokoro-onnx's own trim, the head cut was 284 ms (sd 44)
  and the tokens before the first phoneme or stress mark (the pad, an opening quote) 368 ms
  (sd 40): head = those - 84 ms (sd 24; the pad alone: - 78 ms, sd 26). The tail took the rest
  of the ~850 ms trimmed in all (571 ms, sd 61): the model lets its last phoneme ring on.
- `AUDIO_LEAD_MS`: the audio runs ahead of its own durations. On 24 takes (rows 46, 54, 67, 74
  and four p/b sentences), the energy under the 118 p/b closures was lowest 70-80 ms before
  their predicted middles, under the 908 vowels highest 60-70 ms before, and the first 10 ms
  frame within 40 dB of the peak came 54 ms (sd 8) before the first phoneme. Shifted by 70 ms:
  the dips and peaks within 10 ms of the middles, speech 16 ms (sd 8, 6 to 26) after the first
  phoneme's start, 90 of the 118 closures within 40 ms of an energy dip (vowels: 36 %).
- `TAIL_MS`: the trimmed take goes on 72 ms (sd 12) after its last such frame; the phonemes
  stop there, so the last one (whose frames hold the silence the trim cut) ends with the speech:
  17 ms (sd 41) after it, the kept length being modelled as `estimate_ms` does (sd ~40 ms).
"""

from unicodedata import category as _category

import numpy as np
import numpy.typing as npt

from globalvoice.domain.render import TimedPhoneme

__all__ = ["AUDIO_LEAD_MS", "HEAD_LEAD_MS", "TAIL_MS", "batch_phonemes"]

FRAME_MS = 25.0
HEAD_LEAD_MS = 84.0
AUDIO_LEAD_MS = 70.0
TAIL_MS = 70.0
_STRESS = frozenset("ˈˌ")  # IPA stress marks: before the syllable they stress
_PHONEMES = frozenset({"Ll", "Lu", "Lo"})  # Unicode categories
_MODIFIERS = frozenset({"Lm", "Mn"})  # length, aspiration, a nasal tilde: part of their phoneme


def batch_phonemes(
    phonemes: str, frames: npt.NDArray[np.float32], *, offset_ms: float, kept_ms: float
) -> list[TimedPhoneme]:
    """The phonemes of one batch and their times: `phonemes` holds one character per token,
    `frames` each token's frames at speed 1 before rounding, pads included. Times are from the
    batch's trimmed start plus `offset_ms`, within its `kept_ms` less the silence its end keeps
    (`TAIL_MS`). A stress mark's frames go to the phoneme after it, a modifier letter's (length,
    aspiration, a nasal tilde) to the phoneme before it."""
    if len(frames) != len(phonemes) + 2:
        raise ValueError(f"{len(frames)} durations for {len(phonemes)} phonemes and two pads")
    rounded = np.maximum(1.0, np.round(frames.astype(np.float64)))  # as the graph rounds them
    edges = np.concatenate([[0.0], np.cumsum(rounded)]) * FRAME_MS
    spoken = (i for i, c in enumerate(phonemes) if c in _STRESS or _category(c) in _PHONEMES)
    lead_ms = float(edges[next(spoken, 0) + 1])  # the pad and any opening quote: silence
    shift = max(0.0, lead_ms - HEAD_LEAD_MS) + AUDIO_LEAD_MS
    last_ms = max(0.0, kept_ms - TAIL_MS)
    spans: list[list[float]] = []
    chars: list[str] = []
    stress_from: float | None = None
    after_phoneme = False
    for index, char in enumerate(phonemes):
        start, end = float(edges[index + 1]), float(edges[index + 2])
        category = _category(char)
        if char in _STRESS:
            stress_from = start if stress_from is None else stress_from
            after_phoneme = False
        elif category in _PHONEMES:
            chars.append(char)
            spans.append([start if stress_from is None else stress_from, end])
            stress_from, after_phoneme = None, True
        elif category in _MODIFIERS and after_phoneme:
            spans[-1][1] = end
        else:
            stress_from, after_phoneme = None, False
    out = []
    for char, (start, end) in zip(chars, spans, strict=True):
        begin = min(max(0.0, start - shift), last_ms)
        finish = min(max(0.0, end - shift), last_ms)
        if finish > begin:
            out.append(TimedPhoneme(char, offset_ms + begin, offset_ms + finish))
    return out
