"""DSP voice matching with the WORLD vocoder (pyworld) and Praat formants (parselmouth).

`voice_stats` measures a voice once: log-F0 mean and spread, median F1-F3, and its long-term
spectral envelope. `fit_match` turns a speaker's and a TTS voice's stats into a `DspMatch`;
`apply_match` re-synthesizes a take with the voice's F0 moved to the speaker's, its formants
warped and its envelope equalised toward the speaker's. Length is kept to the sample.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from globalvoice.domain.audio import Pcm
from globalvoice.domain.voices import DspMatch

__all__ = [
    "WARP_LIMITS",
    "VoiceStats",
    "WorldAnalysis",
    "analyse",
    "apply_match",
    "fit_match",
    "formant_ratio",
    "resynthesize",
    "voice_stats",
]

FRAME_MS = 5.0
F0_FLOOR_HZ, F0_CEIL_HZ = 60.0, 500.0
EQ_STEP_HZ = 250
EQ_TOP_HZ = 7000  # sources reach us at 16 kHz: above ~7 kHz their envelope is the resampler's
EQ_MAX_DB = 15.0
_GRID_HZ = 50  # envelopes are compared on this grid, then smoothed and kept every EQ_STEP_HZ
_LIFTER_S = 0.002  # envelope detail finer than ~250 Hz is not equalised
WARP_LIMITS = (0.85, 1.2)
_RANGE_LIMITS = (0.67, 1.5)
_MAX_FORMANT_FRAMES = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceStats:
    log_f0_mean: float
    log_f0_std: float
    formants_hz: tuple[float, float, float]
    envelope_db: tuple[float, ...]  # mean voiced log envelope at 0, _GRID_HZ, ... EQ_TOP_HZ


def _world(
    pcm: Pcm,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    import pyworld

    x = pcm.samples.astype(np.float64)
    rate = pcm.rate_hz
    raw, times = pyworld.dio(
        x, rate, f0_floor=F0_FLOOR_HZ, f0_ceil=F0_CEIL_HZ, frame_period=FRAME_MS
    )
    f0 = pyworld.stonemask(x, raw, times, rate)
    return f0, times, pyworld.cheaptrick(x, f0, times, rate)


def _envelope_db(spectra: npt.NDArray[np.float64], rate_hz: int) -> npt.NDArray[np.float64]:
    """The mean of voiced frames' log envelopes (dB), on the comparison grid."""
    mean = 10 * np.log10(np.maximum(spectra, 1e-16)).mean(axis=0)
    bins_hz = np.arange(len(mean)) * rate_hz / (2 * (len(mean) - 1))
    return np.asarray(np.interp(np.arange(0, EQ_TOP_HZ + 1, _GRID_HZ), bins_hz, mean))


def _formants(pcm: Pcm, voiced_s: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    import parselmouth

    sound = parselmouth.Sound(pcm.samples.astype(np.float64), pcm.rate_hz)
    track = sound.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=5500)
    step = max(1, len(voiced_s) // _MAX_FORMANT_FRAMES)
    values = np.array(
        [[track.get_value_at_time(k, t) for k in (1, 2, 3)] for t in voiced_s[::step]]
    ).reshape(-1, 3)
    medians = np.nanmedian(values, axis=0) if len(values) else np.full(3, np.nan)
    return (float(medians[0]), float(medians[1]), float(medians[2]))


def voice_stats(pcm: Pcm) -> VoiceStats:
    """Pitch, formant and envelope statistics over the voiced frames of `pcm`."""
    f0, times, spectra = _world(pcm)
    voiced = f0 > 0
    if voiced.sum() < 10:
        raise ValueError("too little voiced speech to measure a voice")
    log_f0 = np.log(f0[voiced])
    q1, median, q3 = np.percentile(log_f0, [25, 50, 75])  # robust to octave errors
    return VoiceStats(
        log_f0_mean=float(median),
        log_f0_std=float(max((q3 - q1) / 1.349, 1e-3)),
        formants_hz=_formants(pcm, times[voiced]),
        envelope_db=tuple(float(x) for x in _envelope_db(spectra[voiced], pcm.rate_hz)),
    )


def _warp_envelope(env: npt.NDArray[np.float64], alpha: float) -> npt.NDArray[np.float64]:
    grid = np.arange(len(env)) * float(_GRID_HZ)
    return np.asarray(np.interp(grid / alpha, grid, env))


def _smooth(curve: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Keep the broad shape: cepstral liftering of the mirrored curve."""
    cepstrum = np.fft.irfft(curve)
    keep = max(1, round(_LIFTER_S * 2 * EQ_TOP_HZ))
    cepstrum[keep:-keep] = 0.0
    return np.asarray(np.fft.rfft(cepstrum).real[: len(curve)])


def formant_ratio(speaker: VoiceStats, voice: VoiceStats) -> float:
    """The envelope warp that moves the voice's median formants onto the speaker's, clipped."""
    ratios = np.array(speaker.formants_hz) / np.array(voice.formants_hz)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    warp = float(np.exp(np.mean(np.log(ratios)))) if len(ratios) else 1.0
    return round(float(np.clip(warp, *WARP_LIMITS)), 3)


def fit_match(speaker: VoiceStats, voice: VoiceStats, *, warp: float | None = None) -> DspMatch:
    """The matching that moves `voice` toward `speaker` (values rounded as they are stored);
    `warp` overrides the formant-based envelope warp."""
    warp = formant_ratio(speaker, voice) if warp is None else round(warp, 3)
    diff = np.array(speaker.envelope_db) - _warp_envelope(np.array(voice.envelope_db), warp)
    smooth = _smooth(diff)
    smooth -= smooth[2:].mean()  # shape only: loudness is set later
    step = EQ_STEP_HZ // _GRID_HZ
    eq = np.clip(smooth[::step], -EQ_MAX_DB, EQ_MAX_DB)
    return DspMatch(
        voice_f0_hz=round(float(np.exp(voice.log_f0_mean)), 3),
        speaker_f0_hz=round(float(np.exp(speaker.log_f0_mean)), 3),
        f0_range=round(float(np.clip(speaker.log_f0_std / voice.log_f0_std, *_RANGE_LIMITS)), 3),
        formant_warp=round(warp, 3),
        eq_step_hz=EQ_STEP_HZ,
        eq_db=tuple(round(float(x), 2) for x in eq),
    )


@dataclass(frozen=True, slots=True, eq=False)
class WorldAnalysis:
    """A take's WORLD parameters: analysed once, re-synthesized with any number of matches
    (the voice search scores one take under many). None of it is changed by `apply_match`."""

    samples: npt.NDArray[np.float64]
    rate_hz: int
    f0: npt.NDArray[np.float64]
    log_envelope: npt.NDArray[np.float64]  # natural log of the spectral envelope
    aperiodicity: npt.NDArray[np.float64]


def analyse(pcm: Pcm) -> WorldAnalysis | None:
    """`pcm`'s WORLD parameters; None when it is too short to analyse (left as it is)."""
    import pyworld

    if len(pcm.samples) < pcm.rate_hz * FRAME_MS * 4 / 1000:
        return None
    f0, times, spectra = _world(pcm)
    x = pcm.samples.astype(np.float64)
    return WorldAnalysis(
        samples=x,
        rate_hz=pcm.rate_hz,
        f0=f0,
        log_envelope=np.log(np.maximum(spectra, 1e-16)),
        aperiodicity=pyworld.d4c(x, f0, times, pcm.rate_hz),
    )


def apply_match(pcm: Pcm, match: DspMatch, analysis: WorldAnalysis | None = None) -> Pcm:
    """`pcm` re-synthesized through WORLD with `match` applied; same length and RMS level.
    `analysis`: `pcm`'s own, when it was analysed before."""
    found = analysis if analysis is not None else analyse(pcm)
    return pcm if found is None else resynthesize(found, match)


def resynthesize(analysis: WorldAnalysis, match: DspMatch) -> Pcm:
    """The analysed take with `match` applied: F0 moved, envelope warped and equalised."""
    import pyworld

    f0 = analysis.f0.copy()
    voiced = f0 > 0
    source, target = np.log(match.voice_f0_hz), np.log(match.speaker_f0_hz)
    f0[voiced] = np.exp(target + (np.log(f0[voiced]) - source) * match.f0_range)
    log_env = analysis.log_envelope
    bins = log_env.shape[1]
    bins_hz = np.arange(bins) * analysis.rate_hz / (2 * (bins - 1))
    if match.formant_warp != 1.0:
        src = np.clip(np.arange(bins) / match.formant_warp, 0, bins - 1)
        low = np.floor(src).astype(np.int64)
        high = np.minimum(low + 1, bins - 1)
        frac = src - low
        log_env = log_env[:, low] * (1 - frac) + log_env[:, high] * frac
    eq_hz = np.arange(len(match.eq_db)) * float(match.eq_step_hz)
    gain_db = np.interp(bins_hz, eq_hz, np.array(match.eq_db))  # held beyond the last point
    log_env = log_env + gain_db[None, :] * (np.log(10) / 10)
    x = analysis.samples
    out = pyworld.synthesize(
        f0, np.ascontiguousarray(np.exp(log_env)), analysis.aperiodicity, analysis.rate_hz, FRAME_MS
    )
    out = np.pad(out, (0, max(0, len(x) - len(out))))[: len(x)]
    before, after = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(out**2))
    gain = before / after if after > 1e-9 else 0.0
    return Pcm(samples=(out * gain).astype(np.float32), rate_hz=analysis.rate_hz)
