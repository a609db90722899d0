"""The separate stage (DeepFilterNet3) and the mix over its background, on real speech over
the shared real music (../shared/media/music: jazz, strings, a trumpet, a bird call).

Floors come from runs on a 2-core AMD EPYC with AVX-512 VNNI (the model's numerics are the
same on AVX2 up to rounding), each written beside its threshold with the figures behind it.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from globalvoice.config.settings import DeepFilterSeparatorConfig, Settings
from globalvoice.dubbing.engines import DubEngines
from globalvoice.dubbing.local import LocalDub, run_local
from globalvoice.dubbing.steps import StepRun
from globalvoice.engines.separation.deepfilter import DeepFilterSeparator
from globalvoice.media.probe import probe_media
from globalvoice.pipeline.separate.stems import SeparationJob, StemPaths, separate_source
from globalvoice.storage.cache import ArtifactCache
from tests.manifests import read_manifest
from tests.sound_scenes import (
    SCENE_RATE_HZ,
    Audio,
    Scene,
    build_scene,
    fit_db,
    load,
    rms,
    sdr_db,
)

MUSIC = (
    "macleod_vibe_ace_jazz",
    "brahms_hungarian_dance_5_strings",
    "sorohanro_solo_trumpet_06",
    "inspectorj_robin_chirp",
)


@pytest.fixture(scope="module")
def separator() -> DeepFilterSeparator:
    return DeepFilterSeparator(DeepFilterSeparatorConfig())


def _separate(scene: Scene, separator: DeepFilterSeparator, work: Path) -> tuple[Audio, Audio]:
    info = probe_media(scene.path)
    job = SeparationJob(
        source=scene.path, info=info, digest=scene.path.name, spans_ms=[scene.speech_span_ms]
    )
    paths = StemPaths(dialogue=work / "dialogue.flac", background=work / "background.flac")
    separate_source(job, separator, paths, ArtifactCache.local(work / "cache", enabled=False))
    background, rate = soundfile.read(str(paths.background), dtype="float64", always_2d=True)
    dialogue, _ = soundfile.read(str(paths.dialogue), dtype="float64", always_2d=True)
    assert rate == SCENE_RATE_HZ  # the source's rate, not the engine's 48 kHz
    return background, dialogue


def test_deepfilter_stream_lines_up_with_what_was_pushed(
    media: Path, separator: DeepFilterSeparator
) -> None:
    """Pushed in odd-sized blocks, every frame comes back once, in place: the engine's latency
    (DEEPFILTER_LATENCY_FRAMES) is taken out, so the dialogue of clean speech correlates best
    with the input at lag 0, and dialogue + background is the input."""
    speech = load(media / "speech" / "jfk.flac", rate_hz=separator.rate_hz, channels=1)
    mix = speech.astype(np.float32)
    stream = separator.stream(1)
    parts = [stream.push(mix[i : i + 7777]) for i in range(0, len(mix), 7777)]
    parts.append(stream.finish())
    dialogue = np.concatenate([p.dialogue for p in parts])[:, 0]
    background = np.concatenate([p.background for p in parts])[:, 0]
    assert len(dialogue) == len(mix)
    np.testing.assert_allclose(dialogue + background, mix[:, 0], atol=1e-5)
    lags = range(-960, 961, 8)
    scores = [float(np.dot(np.roll(dialogue, lag), mix[:, 0])) for lag in lags]
    assert list(lags)[int(np.argmax(scores))] == 0
    assert rms(dialogue) / rms(mix) > 0.8  # clean speech is dialogue (0.93-0.95 measured)


@pytest.mark.slow
@pytest.mark.parametrize("music", MUSIC)
def test_background_keeps_the_music_and_loses_the_speech(
    music: str, media: Path, tmp_path: Path, separator: DeepFilterSeparator
) -> None:
    """jfk 6 dB over each music file. Measured: background SDR 7.6-16.9 dB (the mix: -6 dB),
    music kept at -2.1 to -0.1 dB, original speech left at -42 to -30 dB (least-squares gain),
    the stereo side signal kept (correlation 0.93-1.00). Floors: SDR 4 dB, music -3.5 dB,
    speech -20 dB, side 0.85."""
    scene = build_scene(
        media / "speech" / "jfk.flac",
        media / "music" / f"{music}.ogg",
        tmp_path / "in.wav",
        ratio_db=6.0,
    )
    background, dialogue = _separate(scene, separator, tmp_path)
    assert background.shape == scene.music.shape  # stereo stays stereo, no frame lost
    assert sdr_db(scene.music, background) >= 4.0
    kept_db, left_db = fit_db(background.mean(axis=1), [scene.music.mean(axis=1), scene.speech])
    assert kept_db >= -3.5, kept_db
    assert left_db <= -20.0, left_db
    side = np.corrcoef(background[:, 0] - background[:, 1], scene.music[:, 0] - scene.music[:, 1])
    assert side[0, 1] >= 0.85
    # away from the speech the background is the source itself (resampled there and back)
    lead = slice(0, int(0.6 * SCENE_RATE_HZ))
    mix = scene.music + scene.speech[:, None]
    assert sdr_db(mix[lead], background[lead]) >= 40.0
    assert np.max(np.abs(dialogue[lead])) < 1e-3


@pytest.mark.slow
def test_a_bird_call_under_speech_survives_in_the_background(
    media: Path, tmp_path: Path, separator: DeepFilterSeparator
) -> None:
    """The robin at speech level (0 dB): measured SDR 22.3 dB, kept at -0.0 dB, speech -43 dB.
    Floors: SDR 12 dB, kept -1 dB, speech -25 dB."""
    scene = build_scene(
        media / "speech" / "jfk.flac",
        media / "music" / "inspectorj_robin_chirp.ogg",
        tmp_path / "in.wav",
        ratio_db=0.0,
    )
    background, _ = _separate(scene, separator, tmp_path)
    assert sdr_db(scene.music, background) >= 12.0
    kept_db, left_db = fit_db(background.mean(axis=1), [scene.music.mean(axis=1), scene.speech])
    assert kept_db >= -1.0 and left_db <= -25.0, (kept_db, left_db)


def test_an_unchanged_source_is_not_separated_again(
    media: Path, tmp_path: Path, separator: DeepFilterSeparator
) -> None:
    scene = build_scene(
        media / "speech" / "jfk.flac",
        media / "music" / "inspectorj_robin_chirp.ogg",
        tmp_path / "in.wav",
        ratio_db=0.0,
    )
    info = probe_media(scene.path)
    job = SeparationJob(source=scene.path, info=info, digest="d", spans_ms=[(1000, 12000)])
    cache = ArtifactCache.local(tmp_path / "cache")
    first = StemPaths(dialogue=tmp_path / "d1.flac", background=tmp_path / "b1.flac")
    second = StemPaths(dialogue=tmp_path / "d2.flac", background=tmp_path / "b2.flac")
    figures = separate_source(job, separator, first, cache)
    assert (cache.hits, cache.misses) == (0, 1)
    assert separate_source(job, separator, second, cache) == figures
    assert cache.hits == 1
    assert second.background.read_bytes() == first.background.read_bytes()
    assert second.dialogue.read_bytes() == first.dialogue.read_bytes()


# --- the dub over the background ---


def _dub(
    scene: Scene, out: Path, targets: tuple[str, ...], engines: DubEngines, settings: Settings
) -> dict[str, Any]:
    request = LocalDub(input_path=scene.path, targets=targets, out_dir=out, source="en")
    cache = ArtifactCache.local(out.parent / f"{out.name}-cache")
    run_local(request, engines, StepRun(settings=settings.pipeline, cache=cache))
    return read_manifest(out)


def _windows(span_ms: tuple[int, int], rate_hz: int) -> Iterator[slice]:
    step = rate_hz // 2
    for start in range(span_ms[0] * rate_hz // 1000, span_ms[1] * rate_hz // 1000 - step, step):
        yield slice(start, start + step)


@dataclass(frozen=True)
class Heard:
    """What the final Spanish mix holds, fitted in 0.5 s windows on the known dub stem, music
    and original speech: the original speech under the dubbed voice (dB, one per window inside
    a dubbed line) and the music's gain under dubbed lines and away from every line."""

    speech_under_dub_db: list[float]
    music_under_dub_db: list[float]
    music_between_db: list[float]

    @property
    def dip_db(self) -> float:
        return float(np.median(self.music_between_db) - np.median(self.music_under_dub_db))


def _heard(scene: Scene, out: Path, manifest: dict[str, Any]) -> Heard:
    rate = 48_000
    mix = load(out / "talk.es.m4a", rate_hz=rate).mean(axis=1)
    dub = load(out / "talk.es.speech.flac", rate_hz=rate, channels=1)[:, 0]
    truth = out.parent / f"{out.name}-truth.wav"
    soundfile.write(str(truth), np.stack([scene.music.mean(1), scene.speech], 1), SCENE_RATE_HZ)
    music, speech = load(truth, rate_hz=rate).T
    frames = min(len(mix), len(dub), len(music))
    dubbed = [
        (s["targets"]["es"]["dubbed_start_ms"], s["targets"]["es"]["dubbed_end_ms"])
        for s in manifest["segments"]
    ]
    busy = np.zeros(frames, dtype=bool)  # any line, source or dubbed, with its ramps
    for start, end in [*dubbed, *((s["start_ms"], s["end_ms"]) for s in manifest["segments"])]:
        busy[max(0, (start - 300) * rate // 1000) : (end + 300) * rate // 1000] = True
    leaks, under = [], []
    for span in dubbed:
        for w in _windows(span, rate):
            if w.stop > frames or rms(dub[w]) < 1e-3 or rms(speech[w]) < 1e-3:
                continue
            dub_db, music_db, speech_db = fit_db(mix[w], [dub[w], music[w], speech[w]])
            leaks.append(speech_db + 20 * np.log10(rms(speech[w]) / rms(dub[w])) - dub_db)
            under.append(music_db)
    between = [
        fit_db(mix[w], [music[w]])[0]
        for w in _windows((0, frames * 1000 // rate), rate)
        if not busy[w].any()
    ]
    return Heard(speech_under_dub_db=leaks, music_under_dub_db=under, music_between_db=between)


@pytest.fixture(scope="module")
def jazz_scene(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Scene:
    return build_scene(
        media / "speech" / "jfk.flac",
        media / "music" / "macleod_vibe_ace_jazz.ogg",
        tmp_path_factory.mktemp("jazz") / "talk.wav",
        ratio_db=6.0,
    )


@pytest.fixture(scope="module")
def jazz_dub(
    jazz_scene: Scene, engines: DubEngines, settings: Settings
) -> tuple[Path, dict[str, Any]]:
    out = jazz_scene.path.parent / "out"
    return out, _dub(jazz_scene, out, ("es", "en"), engines, settings)


@pytest.mark.slow
def test_dub_over_music_keeps_the_music_and_not_the_original_voice(
    jazz_scene: Scene,
    jazz_dub: tuple[Path, dict[str, Any]],
    engines: DubEngines,
    settings: Settings,
) -> None:
    """The Spanish dub of jfk 6 dB over jazz, separated and (separation off) ducked. Measured:
    separated, the original speech sits -66 to -33 dB under the dubbed voice (median -47), the
    music 3.9 dB lower under the dub than between lines (the 3 dB dip + what the mask takes);
    ducked, the original speech -49 to -6 dB (median -17) and the music 14.0 dB lower. Floors:
    separated median -30 dB and at least 12 dB better than ducked; the music within 6 dB."""
    out, manifest = jazz_dub
    sound = manifest["sound"]
    assert sound["mix"] == "separated" and sound["separation"]["engine"] == "deepfilternet3"
    assert {(a["language"], a["kind"]) for a in manifest["artifacts"]} >= {
        ("all", "background"),
        ("en", "dialogue"),
    }
    separated = _heard(jazz_scene, out, manifest)
    off = settings.model_copy(
        update={"pipeline": settings.pipeline.model_copy(update={"separation": "off"})}
    )
    ducked_out = out.parent / "ducked"
    ducked_manifest = _dub(jazz_scene, ducked_out, ("es",), engines, off)
    assert ducked_manifest["sound"]["mix"] == "ducked"
    ducked = _heard(jazz_scene, ducked_out, ducked_manifest)
    assert len(separated.speech_under_dub_db) >= 10 and separated.music_between_db
    left = float(np.median(separated.speech_under_dub_db))
    assert left <= -30.0, separated
    assert left <= float(np.median(ducked.speech_under_dub_db)) - 12.0, ducked
    assert 0.0 < separated.dip_db <= 6.0, separated
    assert ducked.dip_db > 10.0, ducked


@pytest.mark.slow
def test_lines_kept_in_their_language_keep_their_original_voice(
    jazz_scene: Scene, jazz_dub: tuple[Path, dict[str, Any]]
) -> None:
    """Dubbed into its own language every line is kept: background + kept dialogue give the
    source back (through the 44.1 -> 48 kHz stems and AAC: measured 36.3 dB SDR; floor 20 dB)."""
    out, _ = jazz_dub
    rate = 48_000
    mix = load(out / "talk.en.m4a", rate_hz=rate)
    source = load(jazz_scene.path, rate_hz=rate)
    frames = min(len(mix), len(source))
    gain_db = fit_db(mix[:frames].mean(1), [source[:frames].mean(1)])[0]
    restored = mix[:frames] / 10 ** (gain_db / 20)
    assert sdr_db(source[:frames], restored) >= 20.0


@pytest.mark.slow
def test_music_only_input_is_returned_unchanged(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    source = media / "music" / "inspectorj_robin_chirp.ogg"
    out = tmp_path / "out"
    request = LocalDub(input_path=source, targets=("es",), out_dir=out)
    cache = ArtifactCache.local(tmp_path / "cache")
    run_local(request, engines, StepRun(settings=settings.pipeline, cache=cache))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sound"]["mix"] == "source" and manifest["sound"]["separation"] is None
    assert (out / "inspectorj_robin_chirp.es.ogg").read_bytes() == source.read_bytes()
    assert not list(out.glob("*.background.flac"))
