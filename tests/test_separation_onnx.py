"""The ONNX separation engine on tiny models built here: streaming, channels, errors, licence.

The models are linear (a per-channel gain, or a small convolution), so the engine's crossfaded
segments can be compared with one run of the same graph over the whole soundtrack.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from globalvoice.config.settings import OnnxSeparatorConfig, Settings
from globalvoice.domain.errors import ConfigError, ModelNotAvailable
from globalvoice.engines.registry import build_separator
from globalvoice.engines.separation.onnx_model import OnnxSeparator
from globalvoice.engines.separation.protocol import Stems
from globalvoice.media.pcm import stream_audio
from tests.conftest import MEDIA

RATE_HZ = 8000
SEGMENT_S = 0.5
OVERLAP_S = 0.1
SEGMENT = round(SEGMENT_S * RATE_HZ)
GAINS = (0.6, 0.3)
BLOCKS = (1, 7, 333, 4001, 1234, 2999, 50)  # odd sizes, cycled
Audio = npt.NDArray[np.float32]


@pytest.fixture(scope="module")
def robin() -> Audio:
    """A real stereo recording (2.7 s of robin song and room noise) at the models' rate."""
    path = MEDIA / "music" / "inspectorj_robin_chirp.ogg"
    blocks = list(stream_audio(path, rate_hz=RATE_HZ, channels=2, block_frames=RATE_HZ))
    audio = np.concatenate(blocks)
    assert len(audio) > 5 * SEGMENT
    return audio


def _graph(channels: int, samples: int | str, node: Any, weight: Any) -> onnx.ModelProto:
    graph = helper.make_graph(
        [node],
        "separator",
        [helper.make_tensor_value_info("mix", TensorProto.FLOAT, [1, channels, samples])],
        [helper.make_tensor_value_info("vocals", TensorProto.FLOAT, [1, channels, samples])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def gain_model(channels: int, *, samples: int | str = "samples") -> onnx.ModelProto:
    """vocals = GAINS[c] x mix[c]."""
    gains = np.array(GAINS[:channels], dtype=np.float32).reshape(1, channels, 1)
    node = helper.make_node("Mul", ["mix", "gain"], ["vocals"])
    return _graph(channels, samples, node, numpy_helper.from_array(gains, "gain"))


def conv_model(channels: int) -> onnx.ModelProto:
    """vocals = mix smoothed by [0.25, 0.5, 0.25] per channel (zero-padded at the edges)."""
    kernel = np.tile(np.array([0.25, 0.5, 0.25], np.float32), (channels, 1, 1))
    node = helper.make_node("Conv", ["mix", "kernel"], ["vocals"], group=channels, pads=[1, 1])
    return _graph(channels, "samples", node, numpy_helper.from_array(kernel, "kernel"))


def model_dir(root: Path, model: onnx.ModelProto, **spec: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    onnx.save(model, root / "model.onnx")
    description = {
        "name": "tiny-gain",
        "licence": "MIT",
        "commercial_use": True,
        "rate_hz": RATE_HZ,
        "channels": 2,
        "segment_s": SEGMENT_S,
        "overlap_s": OVERLAP_S,
        "input": "mix",
        "dialogue_output": "vocals",
        **spec,
    }
    (root / "separator.json").write_text(json.dumps(description), encoding="utf-8")
    return root


def separator(root: Path) -> OnnxSeparator:
    return OnnxSeparator(OnnxSeparatorConfig(model_dir=root, device="cpu"))


def whole(root: Path, audio: Audio) -> Audio:
    """The graph run once over the whole soundtrack: the reference."""
    session = ort.InferenceSession(str(root / "model.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(["vocals"], {"mix": np.ascontiguousarray(audio.T[None])})
    return np.asarray(out[0].T, dtype=np.float32)


def streamed(engine: OnnxSeparator, audio: Audio) -> Stems:
    """`audio` pushed in odd-size blocks; checks that no more than a segment is ever held."""
    stream = engine.stream(audio.shape[1])
    parts: list[Stems] = []
    pushed = returned = start = 0
    for index in range(len(audio)):
        if start >= len(audio):
            break
        block = audio[start : start + BLOCKS[index % len(BLOCKS)]]
        start += len(block)
        parts.append(stream.push(block))
        pushed += len(block)
        returned += len(parts[-1])
        assert 0 <= pushed - returned < SEGMENT
    parts.append(stream.finish())
    for part in parts:
        assert part.dialogue.dtype == part.background.dtype == np.float32
        assert part.dialogue.shape == part.background.shape
    return Stems(
        dialogue=np.concatenate([p.dialogue for p in parts]),
        background=np.concatenate([p.background for p in parts]),
    )


@pytest.mark.parametrize("samples", ["samples", SEGMENT], ids=["dynamic", "fixed-length"])
def test_streamed_output_equals_one_run_over_the_whole_signal(
    tmp_path: Path, robin: Audio, samples: int | str
) -> None:
    root = model_dir(tmp_path / "m", gain_model(2, samples=samples))
    reference = whole(model_dir(tmp_path / "ref", gain_model(2)), robin)
    stems = streamed(separator(root), robin)
    assert stems.dialogue.shape == robin.shape
    np.testing.assert_allclose(stems.dialogue, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stems.dialogue + stems.background, robin, rtol=0, atol=1e-6)
    assert np.abs(stems.background).max() > 0.1 * np.abs(robin).max()


def test_the_crossfade_hides_the_segment_edges(tmp_path: Path, robin: Audio) -> None:
    """A convolution sees zeros at each segment's edges: with the overlap faded out there the
    output is all but the whole-signal one; without overlap the edges show."""
    reference = whole(model_dir(tmp_path / "ref", conv_model(2)), robin)
    faded = streamed(separator(model_dir(tmp_path / "faded", conv_model(2))), robin)
    plain = streamed(separator(model_dir(tmp_path / "plain", conv_model(2), overlap_s=0)), robin)
    faded_error = np.abs(faded.dialogue - reference).max()
    plain_error = np.abs(plain.dialogue - reference).max()
    assert plain_error > 1e-5
    assert faded_error < plain_error / 100


def test_a_soundtrack_shorter_than_a_segment_and_an_empty_one(tmp_path: Path, robin: Audio) -> None:
    engine = separator(model_dir(tmp_path / "m", gain_model(2)))
    short = robin[:1001]
    stream = engine.stream(2)
    first = stream.push(short)
    rest = stream.finish()
    assert len(first) == 0
    np.testing.assert_allclose(rest.dialogue, short * np.array(GAINS, np.float32), atol=1e-7)
    assert len(engine.stream(2).finish()) == 0


def test_stereo_stays_stereo_and_mono_works_with_either_model(tmp_path: Path, robin: Audio) -> None:
    stereo_model = separator(model_dir(tmp_path / "stereo", gain_model(2)))
    mono_model = separator(model_dir(tmp_path / "mono", gain_model(1), channels=1))
    mono = robin.mean(axis=1, keepdims=True, dtype=np.float32)

    stems = streamed(stereo_model, robin)
    assert stems.dialogue.shape == stems.background.shape == robin.shape
    # mono into a stereo model: in on both channels, the outputs averaged
    stems = streamed(stereo_model, mono)
    assert stems.dialogue.shape == mono.shape
    np.testing.assert_allclose(stems.dialogue, mono * np.mean(GAINS), atol=1e-6)
    # stereo into a mono model: each channel on its own
    stems = streamed(mono_model, robin)
    assert stems.dialogue.shape == robin.shape
    np.testing.assert_allclose(stems.dialogue, robin * GAINS[0], atol=1e-6)
    np.testing.assert_allclose(stems.dialogue + stems.background, robin, atol=1e-6)
    stems = streamed(mono_model, mono)
    np.testing.assert_allclose(stems.dialogue, mono * GAINS[0], atol=1e-6)


def _refused(root: Path, *fragments: str) -> None:
    with pytest.raises(ModelNotAvailable) as caught:
        separator(root)
    message = caught.value.user_message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_a_missing_directory_or_model_file_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path / "nowhere", "does not exist", "GV_SEPARATOR__MODEL_DIR")
    root = model_dir(tmp_path / "m", gain_model(2))
    (root / "model.onnx").unlink()
    _refused(root, "lacks model.onnx", "docs/separation.md")
    (root / "model.onnx").write_bytes(b"not a protobuf")
    _refused(root, "could not be loaded by onnxruntime", "export the model again")


def test_a_malformed_separator_json_is_refused(tmp_path: Path) -> None:
    root = model_dir(tmp_path / "m", gain_model(2))
    (root / "separator.json").write_text('{"name": "x",', encoding="utf-8")
    _refused(root, "separator.json is not readable JSON")
    root = model_dir(tmp_path / "extra", gain_model(2), stems=4)
    _refused(root, "not a valid separator description", "stems: Extra inputs are not permitted")
    root = model_dir(tmp_path / "overlap", gain_model(2), overlap_s=0.5)
    _refused(root, "overlap_s must be shorter than segment_s")
    spec = json.loads((root / "separator.json").read_text(encoding="utf-8"))
    del spec["rate_hz"]
    (root / "separator.json").write_text(json.dumps(spec), encoding="utf-8")
    _refused(root, "rate_hz: Field required")


def test_a_graph_that_does_not_match_separator_json_is_refused(tmp_path: Path) -> None:
    _refused(
        model_dir(tmp_path / "input", gain_model(2), input="audio"),
        "takes inputs ['mix'], not just 'audio'",
        "fix input/dialogue_output in separator.json",
    )
    _refused(
        model_dir(tmp_path / "output", gain_model(2), dialogue_output="speech"),
        "has no output 'speech' (it has ['vocals'])",
    )
    _refused(
        model_dir(tmp_path / "channels", gain_model(1)),  # separator.json says 2
        "input 'mix' is tensor(float) [1, 1, 'samples'], not float32 of shape (1, 2, samples)",
    )
    _refused(
        model_dir(tmp_path / "length", gain_model(2, samples=SEGMENT), segment_s=1.0),
        "samples = segment_s x rate_hz = 8000 when fixed",
    )


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here"
)
def test_cuda_without_cuda_is_a_configuration_error(tmp_path: Path) -> None:
    root = model_dir(tmp_path / "m", gain_model(2))
    with pytest.raises(ConfigError, match="no CUDA: install onnxruntime-gpu"):
        OnnxSeparator(OnnxSeparatorConfig(model_dir=root, device="cuda"))
    engine = OnnxSeparator(OnnxSeparatorConfig(model_dir=root, device="auto"))
    assert engine.providers == ("CPUExecutionProvider",)


def test_the_licence_flag_follows_separator_json(tmp_path: Path) -> None:
    free = separator(model_dir(tmp_path / "free", gain_model(2))).info
    assert free.is_commercial_use_ok
    assert free.licence == "MIT"
    assert free.name == "separation.onnx"
    assert free.model_id.startswith("tiny-gain@")

    research = separator(
        model_dir(tmp_path / "nc", gain_model(2), licence="research only", commercial_use=False)
    ).info
    assert not research.is_commercial_use_ok
    assert research.licence == "research only (NON-COMMERCIAL)"
    # a licence that says non-commercial wins over commercial_use: true
    nc = separator(model_dir(tmp_path / "ccnc", gain_model(2), licence="CC-BY-NC-4.0")).info
    assert not nc.is_commercial_use_ok
    assert "NON-COMMERCIAL" in nc.licence
    # other weights or another segmentation: another fingerprint (cache keys)
    mono = separator(model_dir(tmp_path / "mono", gain_model(1), channels=1)).info
    longer = separator(model_dir(tmp_path / "longer", gain_model(2), segment_s=0.6)).info
    assert len({free.fingerprint, mono.fingerprint, longer.fingerprint}) == 3


def test_the_registry_builds_it_from_settings(tmp_path: Path, robin: Audio) -> None:
    root = model_dir(tmp_path / "m", gain_model(2))
    engine = build_separator(Settings(separator=OnnxSeparatorConfig(model_dir=root)))
    assert isinstance(engine, OnnxSeparator)
    assert engine.rate_hz == RATE_HZ
    stems = streamed(engine, robin[: 3 * SEGMENT + 17])
    assert len(stems) == 3 * SEGMENT + 17
