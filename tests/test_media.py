"""Media helpers on real audio: loudness, time-stretch, the dub track writer, ducking, probing."""

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import MediaUnreadable, NoAudioTrack, UnsafeMedia
from globalvoice.domain.render import FitOutcome, FittedTake
from globalvoice.media.loudness import LoudnessMeter
from globalvoice.media.pauses import find_pauses, pause_excess_ms, tighten_pauses
from globalvoice.media.pcm import decode_audio, rms
from globalvoice.media.probe import probe_media
from globalvoice.media.stretch import stretch_to
from globalvoice.pipeline.output.mix import MIX_RATE_HZ, DubTrackWriter, duck_envelope
from tests.conftest import ffmpeg


@pytest.mark.parametrize("name", ["mix/jfk_over_synth_bed_48k_stereo.wav", "speech/jfk.flac"])
def test_streaming_loudness_matches_pyloudnorm(media: Path, name: str) -> None:
    data, rate = soundfile.read(str(media / name), always_2d=True)
    meter = LoudnessMeter(rate, data.shape[1])
    for start in range(0, len(data), 10_007):  # odd block size: state must carry over
        meter.add(data[start : start + 10_007].astype(np.float32))
    reference = pyloudnorm.Meter(rate).integrated_loudness(data)
    assert meter.reading().integrated_lufs == pytest.approx(reference, abs=0.01)
    assert meter.reading().true_peak_dbtp >= 20 * np.log10(np.max(np.abs(data))) - 0.01


def test_stretch_hits_exact_length_on_real_speech(media: Path) -> None:
    speech = decode_audio(media / "speech" / "jfk.flac", rate_hz=24_000)
    for target_ms in (8000, 9500):
        stretched = stretch_to(speech, target_ms)
        assert len(stretched.samples) == target_ms * 24
        tail = stretched.samples[-2400:]  # the end still holds speech, not padding
        assert np.sqrt(np.mean(tail**2)) > 1e-4 or target_ms < speech.duration_ms


def _take(line_id: str, start_ms: int, samples: np.ndarray) -> FittedTake:
    audio = Pcm(samples=samples.astype(np.float32), rate_hz=1000)
    return FittedTake(
        line_id=line_id,
        audio=audio,
        start_ms=start_ms,
        slot_ms=len(samples),
        natural_ms=len(samples),
        tempo=1.0,
        tts_speed_permille=1000,
        outcome=FitOutcome.NATURAL,
    )


def write_dub_track(takes: list[FittedTake], path: Path, *, duration_ms: int, rate_hz: int) -> None:
    with DubTrackWriter(path, rate_hz=rate_hz) as track:
        for take in takes:
            track.add(take)
        track.finish(duration_ms=duration_ms)


def test_dub_track_places_each_take_at_its_absolute_start(tmp_path: Path) -> None:
    takes = [
        _take("a", 100, np.full(50, 0.1)),
        _take("b", 130, np.full(40, 0.2)),
        _take("c", 400, np.full(10, 0.3)),
    ]
    path = tmp_path / "dub.wav"
    write_dub_track(takes, path, duration_ms=500, rate_hz=1000)
    track, _ = soundfile.read(str(path), dtype="float32")
    assert len(track) == 500
    assert np.all(track[:100] == 0)
    assert np.allclose(track[100:130], 0.1)
    assert np.allclose(track[130:150], 0.3)  # overlap sums
    assert np.allclose(track[150:170], 0.2)
    assert np.all(track[170:400] == 0)
    assert np.allclose(track[400:410], 0.3)


def test_dub_track_never_cuts_a_take_that_runs_past_the_end(tmp_path: Path) -> None:
    path = tmp_path / "dub.wav"
    write_dub_track([_take("a", 90, np.full(30, 0.5))], path, duration_ms=100, rate_hz=1000)
    track, _ = soundfile.read(str(path), dtype="float32")
    assert len(track) == 120


def test_duck_envelope_ramps_down_under_speech_only() -> None:
    second = MIX_RATE_HZ
    gain = duck_envelope(0, 10 * second, [(4000, 6000)], duck_db=-14.0)
    assert gain[0] == pytest.approx(1.0)
    assert gain[5 * second] == pytest.approx(10 ** (-14 / 20), rel=1e-4)
    assert gain[9 * second] == pytest.approx(1.0)
    assert np.all(np.abs(np.diff(gain)) < 0.01)  # no clicks: ramps, not steps


def test_probe_rejects_text_playlists_that_name_other_files(tmp_path: Path, media: Path) -> None:
    secret = media / "speech" / "jfk.flac"
    cases = {
        "list.m3u8": f"#EXTM3U\n#EXTINF:11,\n{secret}\n#EXT-X-ENDLIST\n",
        "list.ffconcat": f"ffconcat version 1.0\nfile '{secret}'\n",
        "list.txt": f"file '{secret}'\n",
        "remote.m3u": "#EXTM3U\nhttp://127.0.0.1:9/x.mp3\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(UnsafeMedia):
            probe_media(path)


def test_probe_errors_name_the_problem(tmp_path: Path, media: Path) -> None:
    with pytest.raises(MediaUnreadable, match="does not exist"):
        probe_media(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(50_000))
    with pytest.raises(MediaUnreadable, match="not readable media"):
        probe_media(garbage)
    silent_video = tmp_path / "silent.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x64:r=10:d=1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(silent_video),
    )
    with pytest.raises(NoAudioTrack):
        probe_media(silent_video)
    info = probe_media(media / "video" / "grid" / "bbaf2n.mpg")
    assert (info.video_codec, info.audio_codec, info.width) == ("mpeg1video", "mp2", 360)


def test_dub_track_writer_sums_takes_added_in_any_order_and_leaves_no_scratch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dub.wav"
    with DubTrackWriter(path) as track:
        track.add(_take("c", 400, np.full(10, 0.3)))
        track.add(_take("b", 130, np.full(40, 0.2)))
        track.add(_take("a", 100, np.full(50, 0.1)))
        with pytest.raises(ValueError, match="rate"):
            other_rate = Pcm(samples=np.ones(5, np.float32), rate_hz=8000)
            track.add(replace(_take("d", 0, np.ones(5)), audio=other_rate))
        track.finish(duration_ms=500)
    written, rate = soundfile.read(str(path), dtype="float32")
    with_list = tmp_path / "list.wav"
    write_dub_track(
        [_take("a", 100, np.full(50, 0.1)), _take("b", 130, np.full(40, 0.2)),
         _take("c", 400, np.full(10, 0.3))],
        with_list, duration_ms=500, rate_hz=1000,
    )  # fmt: skip
    assert rate == 1000
    assert np.array_equal(written, soundfile.read(str(with_list), dtype="float32")[0])
    assert np.allclose(written[130:150], 0.3)  # the overlap sums, whatever the order
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dub.wav", "list.wav"]


def test_dub_track_writer_removes_its_scratch_when_the_dub_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), DubTrackWriter(tmp_path / "dub.wav") as track:
        track.add(_take("a", 0, np.ones(10)))
        raise RuntimeError("synthesis failed")
    assert list(tmp_path.iterdir()) == []


def test_pauses_in_real_speech_are_shortened_to_the_floor_and_no_further(media: Path) -> None:
    samples, rate = soundfile.read(str(media / "speech" / "jfk.flac"), always_2d=True)
    speech = Pcm(samples=samples.mean(axis=1).astype(np.float32), rate_hz=rate)
    pauses = find_pauses(speech)
    assert len(pauses) >= 3  # "And so, my fellow Americans, ask not ..."
    spare = pause_excess_ms([p.duration_ms for p in pauses], floor_ms=200)
    assert spare == sum(max(0, p.duration_ms - 200) for p in pauses) > 300
    tight, removed = tighten_pauses(speech, remove_ms=300, floor_ms=200)
    assert 290 <= removed <= 300
    assert abs(speech.duration_ms - tight.duration_ms - removed) <= 1
    energy = float(np.sum(speech.samples.astype(np.float64) ** 2))
    assert float(np.sum(tight.samples.astype(np.float64) ** 2)) == pytest.approx(energy, rel=0.01)
    jumps = np.abs(np.diff(tight.samples))
    assert jumps.max() <= np.abs(np.diff(speech.samples)).max() + 1e-6  # no clicks at the cuts
    _, taken = tighten_pauses(speech, remove_ms=60_000, floor_ms=200)
    assert taken == pytest.approx(spare, abs=10 * len(pauses))  # never past the floor
    assert tighten_pauses(speech, remove_ms=0, floor_ms=200) == (speech, 0)


def test_rms_over_parts_matches_the_whole_signal_in_float64(media: Path) -> None:
    speech = decode_audio(media / "speech" / "jfk.flac", rate_hz=16_000).samples
    whole = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2)))
    cuts = [0, 1000, 1000, len(speech) // 3, len(speech)]  # an empty part among them
    parts = [speech[a:b] for a, b in itertools.pairwise(cuts)]
    assert rms(parts) == pytest.approx(whole, rel=1e-9)
    assert rms([speech[:10], np.zeros(10, dtype=np.float32)]) == pytest.approx(
        float(np.sqrt(np.mean(speech[:10].astype(np.float64) ** 2) / 2)), rel=1e-9
    )
    assert rms([]) == 0.0
    long = np.tile(speech, 7)  # over one summing block (2**20 samples)
    assert rms([long]) == pytest.approx(whole, rel=1e-9)


@pytest.mark.parametrize("expected_ms", [None, 1_000, 11_000, 500_000])
def test_decoded_audio_is_ffmpegs_whole_output_whatever_length_is_expected(
    media: Path, expected_ms: int | None
) -> None:
    """Decoding into one array (planned from the declared length, grown or trimmed when that
    is wrong) gives exactly the samples of ffmpeg's whole output read at once."""
    from globalvoice.media.ffmpeg import run_ffmpeg

    clip = media / "speech" / "jfk.flac"  # 11.0 s
    raw = run_ffmpeg(
        ["-i", str(clip), "-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "f32le", "-"]
    )
    audio = decode_audio(clip, rate_hz=16_000, expected_ms=expected_ms)
    np.testing.assert_array_equal(audio.samples, np.frombuffer(raw, dtype=np.float32))
    assert audio.samples.base is None or audio.samples.base.size < 1.12 * audio.samples.size


def test_a_damaged_file_that_floods_ffmpegs_log_decodes_without_hanging(
    media: Path, tmp_path: Path
) -> None:
    """An MP3 with a byte flipped every 97: ffmpeg logs an error per damaged frame, far more
    than a pipe holds (134 KB), which hung the decoder while it waited for the audio."""
    import subprocess
    import sys

    clean = tmp_path / "long.mp3"
    ffmpeg("-stream_loop", "20", "-i", str(media / "speech" / "jfk.flac"), "-t", "200",
           "-c:a", "libmp3lame", "-b:a", "64k", str(clean))  # fmt: skip
    damaged = bytearray(clean.read_bytes())
    for index in range(5000, len(damaged), 97):
        damaged[index] ^= 0x5A
    (tmp_path / "damaged.mp3").write_bytes(damaged)
    script = (
        "from pathlib import Path; from globalvoice.media.pcm import decode_audio; "
        f"print(decode_audio(Path({str(tmp_path / 'damaged.mp3')!r}), rate_hz=16000).duration_ms)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert 100_000 < int(done.stdout) <= 200_000  # most frames survive; no hang
