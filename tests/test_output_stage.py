"""The output stage on its own: the dub track, the ducked mix, loudness, encoding, mux, subtitles.

Real media: the 11 s music-and-effects bed (48 kHz stereo, MEDIA.md) is the original sound, and
takes cut from the JFK clip are the dubbed lines. Each test measures what the user gets.
"""

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyloudnorm
import pytest
import soundfile
from scipy.signal import correlate, resample_poly

from globalvoice.domain.audio import Pcm
from globalvoice.domain.media import MediaInfo
from globalvoice.domain.render import FitOutcome, FittedTake
from globalvoice.media.ffmpeg import ffmpeg_exe
from globalvoice.media.loudness import LoudnessReading
from globalvoice.media.pcm import decode_audio
from globalvoice.media.probe import probe_media
from globalvoice.pipeline.output.assemble import (
    encode_audio,
    encode_speech_stem,
    measure_loudness,
    mux_video,
    write_subtitles,
)
from globalvoice.pipeline.output.mix import (
    MIX_RATE_HZ,
    DubTrackWriter,
    MixPlan,
    MixSources,
    mix_tracks,
)
from tests.conftest import video_from_audio

DUB_RATE = 24_000  # Kokoro's rate: the dub track is resampled to the mix's 48 kHz
DUCK_DB = -14.0  # PipelineSettings.duck_db's default
TARGET_LUFS, CEILING_DBTP = -23.0, -1.0  # PipelineSettings' defaults (EBU R128)
SPANS_MS = [(2000, 5000), (6000, 8000)]  # the dubbed lines; the bed lasts 11 000 ms
HOLD_MS, RAMP_MS = 100, 120  # mix.py: full depth from HOLD before a line, ramped over RAMP


def _db(x: npt.NDArray[np.float64]) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x)))))


def _frames(ms: int) -> int:
    return ms * MIX_RATE_HZ // 1000


@dataclass(frozen=True)
class Stage:
    bed: Path
    info: MediaInfo
    takes: list[FittedTake]
    dub_wav: Path
    silent_dub: Path
    mix_wav: Path
    reading: LoudnessReading
    quiet_mix_wav: Path  # the same mix with a silent dub track: the ducked original alone


def _take(speech: Pcm, *, start_ms: int, from_s: float, seconds: float) -> FittedTake:
    cut = speech.samples[int(from_s * speech.rate_hz) : int((from_s + seconds) * speech.rate_hz)]
    ms = len(cut) * 1000 // speech.rate_hz
    return FittedTake(
        line_id=f"line-{start_ms}",
        audio=Pcm(samples=cut.copy(), rate_hz=speech.rate_hz),
        start_ms=start_ms,
        slot_ms=ms,
        natural_ms=ms,
        tempo=1.0,
        tts_speed_permille=1000,
        outcome=FitOutcome.NATURAL,
    )


def _ducked_mix(
    bed: Path, info: MediaInfo, dub: Path, out: Path, spans_ms: list[tuple[int, int]]
) -> LoudnessReading:
    """The mix with no separated stems: the whole source ducked under the dub."""
    sources = MixSources(source=bed, info=info, dub_track=dub)
    return mix_tracks(sources, out, MixPlan(dub_spans_ms=spans_ms, duck_db=DUCK_DB)).mix


def _dub_track(path: Path, takes: list[FittedTake], duration_ms: int) -> Path:
    with DubTrackWriter(path) as writer:
        for take in takes:
            writer.add(take)
        writer.finish(duration_ms=duration_ms)
    return path


@pytest.fixture(scope="module")
def stage(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Stage:
    work = tmp_path_factory.mktemp("output")
    bed = media / "mix" / "synth_music_bed_48k_stereo.wav"
    info = probe_media(bed)
    jfk = decode_audio(media / "speech" / "jfk.flac", rate_hz=DUB_RATE)
    # Half scale, as synthesized takes are: the clip is normalised to full scale and its
    # resampled peaks pass 1.0, which the 16-bit speech stem would clip.
    speech = Pcm(samples=jfk.samples * np.float32(0.5), rate_hz=DUB_RATE)
    takes = [  # added out of order: the writer places each by its start
        _take(speech, start_ms=6000, from_s=5.0, seconds=2.0),
        _take(speech, start_ms=2000, from_s=0.3, seconds=3.0),
    ]
    dub_wav = _dub_track(work / "dub.wav", takes, info.duration_ms)
    silent = DubTrackWriter(work / "silent.wav", rate_hz=DUB_RATE)
    with silent:
        silent.finish(duration_ms=info.duration_ms)
    mix_wav, quiet_wav = work / "mix.wav", work / "quiet.wav"
    reading = _ducked_mix(bed, info, dub_wav, mix_wav, SPANS_MS)
    _ducked_mix(bed, info, silent.path, quiet_wav, SPANS_MS)
    return Stage(bed, info, takes, dub_wav, silent.path, mix_wav, reading, quiet_wav)


def _read(path: Path) -> npt.NDArray[np.float64]:
    data, _ = soundfile.read(str(path), dtype="float64", always_2d=True)
    return np.asarray(data)


# --- the dub track ---


def test_dub_track_places_each_take_at_its_sample_offset(stage: Stage) -> None:
    track, rate = soundfile.read(str(stage.dub_wav), dtype="float32")
    assert rate == DUB_RATE
    assert len(track) == stage.info.duration_ms * DUB_RATE // 1000
    covered = np.zeros(len(track), dtype=bool)
    for take in stage.takes:
        start = take.start_ms * DUB_RATE // 1000
        end = start + len(take.audio.samples)
        np.testing.assert_array_equal(track[start:end], take.audio.samples)  # bit for bit
        covered[start:end] = True
    assert not np.any(track[~covered])  # silence everywhere else


def test_dub_track_sums_overlapping_takes_and_never_cuts_a_long_one(tmp_path: Path) -> None:
    tone = np.sin(np.arange(DUB_RATE) * 2 * np.pi * 220 / DUB_RATE).astype(np.float32) * 0.3
    first = FittedTake(
        line_id="a",
        audio=Pcm(samples=tone, rate_hz=DUB_RATE),
        start_ms=0,
        slot_ms=500,
        natural_ms=1000,
        tempo=1.0,
        tts_speed_permille=1000,
        outcome=FitOutcome.FLAGGED,
    )
    second = replace(first, line_id="b", start_ms=500)
    track_path = _dub_track(tmp_path / "dub.wav", [second, first], duration_ms=1200)
    track, _ = soundfile.read(str(track_path), dtype="float32")
    half = DUB_RATE // 2
    assert len(track) == DUB_RATE + half  # the second take runs 300 ms past the duration
    np.testing.assert_allclose(track[half:DUB_RATE], tone[half:] + tone[:half], atol=1e-7)
    np.testing.assert_array_equal(track[DUB_RATE:], tone[half:])
    assert not (tmp_path / ".dub.wav.f32").exists()  # the scratch file is gone


def test_dub_track_refuses_takes_at_another_rate(tmp_path: Path) -> None:
    take = FittedTake(
        line_id="a",
        audio=Pcm(samples=np.zeros(100, np.float32), rate_hz=DUB_RATE),
        start_ms=0,
        slot_ms=10,
        natural_ms=10,
        tempo=1.0,
        tts_speed_permille=1000,
        outcome=FitOutcome.NATURAL,
    )
    other = replace(take, audio=Pcm(samples=np.zeros(100, np.float32), rate_hz=16_000))
    with DubTrackWriter(tmp_path / "dub.wav") as writer:
        writer.add(take)
        with pytest.raises(ValueError, match="rate"):
            writer.add(other)


# --- the mix ---


def test_original_is_ducked_by_duck_db_under_dubbed_speech_only(stage: Stage) -> None:
    """Gain is a multiplication of the same decoded samples (16-bit PCM to float is exact), so
    the level change is duck_db to float32 rounding; 0.05 dB leaves room for nothing else."""
    original, ducked = _read(stage.bed), _read(stage.quiet_mix_wav)
    assert ducked.shape == original.shape
    for start, end in SPANS_MS:  # fully ducked from HOLD before to HOLD after each line
        window = slice(_frames(start - HOLD_MS), _frames(end + HOLD_MS))
        drop = _db(ducked[window]) - _db(original[window])
        assert abs(drop - DUCK_DB) <= 0.05, (start, end, drop)
    before = slice(0, _frames(SPANS_MS[0][0] - HOLD_MS - RAMP_MS))
    gap = slice(_frames(5000 + HOLD_MS + RAMP_MS), _frames(6000 - HOLD_MS - RAMP_MS))
    after = slice(_frames(SPANS_MS[-1][1] + HOLD_MS + RAMP_MS), None)
    for window in (before, gap, after):  # untouched away from the lines
        np.testing.assert_allclose(ducked[window], original[window], atol=1e-6)
    ramp = slice(_frames(2000 - HOLD_MS - RAMP_MS), _frames(2000 - HOLD_MS))
    gains = np.abs(ducked[ramp, 0]) / np.maximum(np.abs(original[ramp, 0]), 1e-9)
    loud = np.abs(original[ramp, 0]) > 1e-3
    assert np.all(np.diff(gains[loud]) <= 1e-4)  # the ramp only goes down: no click


def _lag(signal: npt.NDArray[np.float64], pattern: npt.NDArray[np.float64]) -> int:
    scores = correlate(signal, pattern, mode="valid", method="fft")
    return int(np.argmax(scores))


def test_dubbed_lines_land_at_their_start_in_both_channels(stage: Stage) -> None:
    """The dub alone is the mix minus the ducked original (same spans, silent dub): each take,
    resampled to 48 kHz, must correlate best at exactly its start (ffmpeg's resampler and
    resample_poly are both delay-compensated, so the expected lag is exact)."""
    voice = _read(stage.mix_wav) - _read(stage.quiet_mix_wav)
    np.testing.assert_allclose(voice[:, 0], voice[:, 1], atol=1e-6)  # centred
    for take in stage.takes:
        pattern = resample_poly(take.audio.samples.astype(np.float64), MIX_RATE_HZ, DUB_RATE)
        assert _lag(voice[:, 0], pattern) == _frames(take.start_ms), take.line_id
        at = slice(_frames(take.start_ms), _frames(take.start_ms) + len(pattern))
        level = _db(voice[at, 0]) - _db(pattern)
        assert abs(level) <= 0.1, level  # mono voice at unity gain in each channel


def test_a_line_running_past_the_end_is_mixed_whole(stage: Stage, tmp_path: Path) -> None:
    """A flagged last line 2.5 s longer than the source: the mix runs until the line ends,
    with nothing dropped where the source's last (short) block ends."""
    speech = Pcm(
        samples=np.concatenate([t.audio.samples for t in reversed(stage.takes)]), rate_hz=DUB_RATE
    )
    take = _take(speech, start_ms=8500, from_s=0.0, seconds=5.0)
    dub = _dub_track(tmp_path / "dub.wav", [take], stage.info.duration_ms)
    mix_wav = tmp_path / "mix.wav"
    _ducked_mix(stage.bed, stage.info, dub, mix_wav, [(8500, 13500)])
    mixed = _read(mix_wav)
    assert len(mixed) == _frames(13_500)
    tail = mixed[_frames(stage.info.duration_ms) :, 0]  # the line alone after the source ends
    pattern = resample_poly(take.audio.samples.astype(np.float64), MIX_RATE_HZ, DUB_RATE)
    expected = pattern[_frames(stage.info.duration_ms - take.start_ms) :]
    assert len(tail) == len(expected)
    assert np.corrcoef(tail, expected)[0, 1] > 0.999


# --- loudness, encoding, mux, subtitles ---


@pytest.fixture(scope="module")
def encoded(stage: Stage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mix normalised and encoded the way dubbing.outputs.finish_target does it."""
    out = tmp_path_factory.mktemp("encoded") / "dub.m4a"
    gain = TARGET_LUFS - stage.reading.integrated_lufs
    encode_audio(
        stage.mix_wav,
        out,
        gain_db=gain,
        true_peak_dbtp=CEILING_DBTP,
        needs_limiter=stage.reading.true_peak_dbtp + gain > CEILING_DBTP,
    )
    return out


def _pyloudnorm_lufs(path: Path) -> float:
    data = _read(path) if path.suffix == ".wav" else _decoded(path)
    return float(pyloudnorm.Meter(MIX_RATE_HZ).integrated_loudness(data))


def _ffmpeg_out(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([ffmpeg_exe(), *args], capture_output=True, check=True)


def _decoded(path: Path) -> npt.NDArray[np.float64]:
    raw = _ffmpeg_out(
        "-v", "error", "-i", str(path), "-map", "0:a:0",
        "-ac", "2", "-ar", str(MIX_RATE_HZ), "-f", "f32le", "-",
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32).reshape(-1, 2).astype(np.float64)


def test_mix_loudness_reading_matches_pyloudnorm(stage: Stage) -> None:
    assert abs(stage.reading.integrated_lufs - _pyloudnorm_lufs(stage.mix_wav)) <= 0.1


def test_encoded_audio_hits_the_target_loudness_under_the_peak_ceiling(
    stage: Stage, encoded: Path
) -> None:
    needed_limiter = stage.reading.true_peak_dbtp + TARGET_LUFS - stage.reading.integrated_lufs
    measured = measure_loudness(encoded)
    assert abs(measured.integrated_lufs - TARGET_LUFS) <= 0.5, measured
    assert measured.true_peak_dbtp <= CEILING_DBTP, measured
    assert abs(measured.integrated_lufs - _pyloudnorm_lufs(encoded)) <= 0.1  # the meter agrees
    assert len(_decoded(encoded)) == pytest.approx(len(_read(stage.mix_wav)), abs=2048)
    assert needed_limiter <= CEILING_DBTP  # no limiter at -23 LUFS: the next test limits


def test_a_limited_encode_keeps_true_peaks_under_the_ceiling(stage: Stage, tmp_path: Path) -> None:
    """A gain that takes the mix's true peak 1 dB past the ceiling: the limiter must hold it under
    the ceiling and keep the loudness within 0.5 LU of the gain's. Measured on this mix: 0.22 LU
    lost at 1 dB over (0.53 LU at 2 dB, 1.05 LU at 3 dB: encode_audio does not make up what the
    limiter takes, so peaks far over the ceiling miss the target)."""
    gain = CEILING_DBTP + 1.0 - stage.reading.true_peak_dbtp
    out = tmp_path / "limited.m4a"
    encode_audio(stage.mix_wav, out, gain_db=gain, true_peak_dbtp=CEILING_DBTP, needs_limiter=True)
    measured = measure_loudness(out)
    assert measured.true_peak_dbtp <= CEILING_DBTP, measured
    wanted = stage.reading.integrated_lufs + gain
    assert abs(measured.integrated_lufs - wanted) <= 0.5, (measured, wanted)


def test_speech_stem_is_the_dub_track_in_16_bit_flac(stage: Stage, tmp_path: Path) -> None:
    stem = tmp_path / "speech.flac"
    encode_speech_stem(stage.dub_wav, stem)
    info = soundfile.info(str(stem))
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", DUB_RATE)
    got, _ = soundfile.read(str(stem), dtype="float64")
    want, _ = soundfile.read(str(stage.dub_wav), dtype="float64")
    assert len(got) == len(want)
    np.testing.assert_allclose(got, want, atol=1 / 32768 + 1e-9)  # 16-bit quantisation only


def _video_md5(path: Path) -> str:
    args = ("-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-")
    return _ffmpeg_out(*args).stdout.decode().strip()


def test_mux_copies_h264_video_and_carries_the_new_audio(
    stage: Stage, encoded: Path, tmp_path: Path
) -> None:
    source = video_from_audio(stage.bed, tmp_path / "source.mp4")
    info = probe_media(source)
    assert info.video_codec == "h264"
    out = tmp_path / "dubbed.mp4"
    mux_video(source, info, encoded, out)
    muxed = probe_media(out)
    assert (muxed.video_codec, muxed.width, muxed.height) == ("h264", 320, 240)
    assert _video_md5(out) == _video_md5(source)  # the same H.264 packets: copied, not re-encoded
    # AAC priming and the last frame: 100 ms = 2.5 frames at 25 fps, 4.8 AAC frames.
    assert abs(muxed.duration_ms - info.duration_ms) <= 100, (muxed, info)
    assert muxed.audio_codec == "aac"
    assert abs(measure_loudness(out).integrated_lufs - TARGET_LUFS) <= 0.5


def test_mux_reencodes_mpeg1_video_to_h264_and_keeps_its_duration(
    talking_video: Path, encoded: Path, tmp_path: Path
) -> None:
    info = probe_media(talking_video)
    assert info.video_codec == "mpeg1video"
    out = tmp_path / "dubbed.mp4"
    mux_video(talking_video, info, encoded, out)
    muxed = probe_media(out)
    assert (muxed.video_codec, muxed.width, muxed.height) == ("h264", info.width, info.height)
    # The 11 s audio outlasts the 3 s clip: the video stream keeps its own length.
    video_ms = _stream_duration_ms(out, "v:0")
    assert abs(video_ms - _stream_duration_ms(talking_video, "v:0")) <= 80  # two frames at 25 fps


def _stream_duration_ms(path: Path, stream: str) -> int:
    """Decoded frames x frame time, from ffmpeg's own count (no ffprobe in imageio-ffmpeg)."""
    log = _ffmpeg_out("-i", str(path), "-map", f"0:{stream}", "-f", "null", "-").stderr.decode()
    frames = int(log.rsplit("frame=", 1)[1].split()[0])
    return frames * 40  # 25 fps


def test_subtitles_keep_cue_times_to_the_millisecond(tmp_path: Path) -> None:
    cues = [
        (1234, 2500, "Hola, mundo."),
        (3000, 3000, "Un instante."),  # zero length: shown for 1 ms, not dropped
        (3_723_456, 3_725_000, "Más de una hora."),
    ]
    srt, vtt = write_subtitles(cues, tmp_path / "clip.es")
    assert (srt.name, vtt.name) == ("clip.es.srt", "clip.es.vtt")
    srt_text, vtt_text = srt.read_text(), vtt.read_text()
    for stamp in (
        "00:00:01,234 --> 00:00:02,500",
        "00:00:03,000 --> 00:00:03,001",
        "01:02:03,456 --> 01:02:05,000",
    ):
        assert stamp in srt_text, srt_text
        assert stamp.replace(",", ".") in vtt_text, vtt_text
    assert vtt_text.startswith("WEBVTT")
    for text in ("Hola, mundo.", "Un instante.", "Más de una hora."):
        assert text in srt_text and text in vtt_text
