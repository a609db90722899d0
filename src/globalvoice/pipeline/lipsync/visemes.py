"""From the dubbed speech's phonemes (IPA, as espeak-ng gives them to Kokoro) and their times to
what the mouth should do in each video frame: a viseme, and the mouth opening and width it
calls for, in the units `sync.mouth_opening` measures (inter-ocular distances; width relative to
the face's resting width).

The classes follow the usual reduced viseme sets (lips closed for p/b/m, lower lip to teeth for
f/v, rounded for o/u/w, open for a...). A closure shorter than a frame still closes the mouth
in the frame it falls in: a missing closure on p/b/m is what viewers notice first.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from globalvoice.domain.render import TimedPhoneme

__all__ = ["MouthShape", "TimedPhoneme", "Viseme", "viseme_frames", "viseme_of"]


class Viseme(StrEnum):
    REST = "rest"
    CLOSED = "closed"  # p b m
    LABIODENTAL = "labiodental"  # f v
    DENTAL = "dental"  # θ ð
    ROUNDED = "rounded"  # o ɔ u ʊ w y ø
    OPEN = "open"  # a ɑ æ ɐ ʌ
    MID = "mid"  # e ɛ ə ɜ ɚ
    SPREAD = "spread"  # i ɪ j
    ALVEOLAR = "alveolar"  # t d n l s z r ɾ ɹ
    POSTALVEOLAR = "postalveolar"  # ʃ ʒ ʧ ʤ
    VELAR = "velar"  # k ɡ ŋ h x


@dataclass(frozen=True, slots=True)
class MouthShape:
    opening: float  # inner-lip gap, inter-ocular distances
    width: float  # mouth width relative to rest


SHAPES: dict[Viseme, MouthShape] = {
    Viseme.REST: MouthShape(0.0, 1.0),
    Viseme.CLOSED: MouthShape(0.0, 1.0),
    Viseme.LABIODENTAL: MouthShape(0.03, 1.0),
    Viseme.DENTAL: MouthShape(0.06, 1.0),
    Viseme.ROUNDED: MouthShape(0.15, 0.8),
    Viseme.OPEN: MouthShape(0.30, 1.05),
    Viseme.MID: MouthShape(0.18, 1.05),
    Viseme.SPREAD: MouthShape(0.10, 1.12),
    Viseme.ALVEOLAR: MouthShape(0.08, 1.0),
    Viseme.POSTALVEOLAR: MouthShape(0.08, 0.9),
    Viseme.VELAR: MouthShape(0.10, 1.0),
}

_CLASSES: dict[Viseme, str] = {
    Viseme.CLOSED: "pbmɱ",
    Viseme.LABIODENTAL: "fvβɸ",  # Spanish b/v between vowels: the lips nearly meet
    Viseme.DENTAL: "θð",
    Viseme.ROUNDED: "oɔuʊwyøœɒɵʉ",
    Viseme.OPEN: "aɑæɐʌɶ",
    Viseme.MID: "eɛəɜɚɝɘ",
    Viseme.SPREAD: "iɪjɨ",
    Viseme.ALVEOLAR: "tdnlszrɾɹɬʦʣɲʎ",
    Viseme.POSTALVEOLAR: "ʃʒʧʤɕʑ",
    Viseme.VELAR: "kgɡŋhxɣχʁq",
}
_BY_CHAR = {char: viseme for viseme, chars in _CLASSES.items() for char in chars}


def viseme_of(phoneme: str) -> Viseme:
    """The viseme of an IPA phoneme; anything that is not one (pause, stress mark) is rest."""
    return _BY_CHAR.get(phoneme[:1], Viseme.REST)


def viseme_frames(phonemes: Sequence[TimedPhoneme], *, fps: float, frames: int) -> list[Viseme]:
    """The viseme of each of `frames` video frames (frame i spans i/fps to (i+1)/fps seconds,
    times relative to the phonemes'): the phoneme covering the frame's middle, except that a
    closure overlapping a frame wins it."""
    period_ms = 1000.0 / fps
    shown = [Viseme.REST] * frames
    for timed in phonemes:  # the phoneme at each frame's middle
        viseme = viseme_of(timed.phoneme)
        first = max(0, math.ceil(timed.start_ms / period_ms - 0.5))
        last = min(frames - 1, math.ceil(timed.end_ms / period_ms - 0.5) - 1)
        for index in range(first, last + 1):
            shown[index] = viseme
    for timed in phonemes:  # closures are never lost between frame middles
        if viseme_of(timed.phoneme) is Viseme.CLOSED:
            index = int((timed.start_ms + timed.end_ms) / 2 / period_ms)
            if 0 <= index < frames:
                shown[index] = Viseme.CLOSED
    return shown
