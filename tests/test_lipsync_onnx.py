"""The ONNX lip-sync engine on tiny models built here, and Wav2Lip's mel spectrogram.

The models have Wav2Lip's inputs and output but trivial insides: one gives back the reference
face (channels 3-5), one a channel of it, one a picture whose colour is a statistic of the mel
window it was given; so what the engine feeds the model, and how it pastes the answer, can be
checked exactly. The mel is checked against a slow reference written from the textbook: loops
over frames, a plain DFT, and Slaney's mel scale.
"""

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from globalvoice.config.settings import OnnxLipsyncConfig, PatchLipsyncConfig, Settings
from globalvoice.domain.errors import ConfigError, ModelNotAvailable
from globalvoice.engines.lipsync.mel import mel_filterbank, mel_window, melspectrogram
from globalvoice.engines.lipsync.onnx_model import OnnxMouthEngine
from globalvoice.engines.lipsync.protocol import FaceCrop, MouthCue
from globalvoice.engines.registry import build_lipsync
from globalvoice.media.pcm import stream_audio
from tests.conftest import MEDIA

FPS = 25.0
Audio = npt.NDArray[np.float32]
Picture = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def speech() -> Audio:
    """2.5 s of JFK's inaugural address at 16 kHz mono: loud words and pauses."""
    blocks = stream_audio(
        MEDIA / "speech" / "jfk.flac", rate_hz=16_000, channels=1, block_frames=16_000
    )
    audio = np.concatenate(list(blocks))[:40_000, 0]
    assert len(audio) == 40_000
    return audio


# --- the mel spectrogram -----------------------------------------------------------------------


def slaney_hz_to_mel(hz: float) -> float:
    """Slaney's Auditory Toolbox: 3 mels per 200 Hz up to 1 kHz (15 mels), then 27 mels per
    factor of 6.4."""
    if hz < 1000.0:
        return 3.0 * hz / 200.0
    return 15.0 + 27.0 * np.log(hz / 1000.0) / np.log(6.4)


def slaney_mel_to_hz(mel: float) -> float:
    if mel < 15.0:
        return 200.0 * mel / 3.0
    return 1000.0 * float(np.exp((mel - 15.0) * np.log(6.4) / 27.0))


def reference_filterbank() -> npt.NDArray[np.float64]:
    """80 triangles from 55 to 7600 Hz, equally spaced in mels, each 2 / (width in Hz) high."""
    bands, bins, rate = 80, 401, 16_000
    low, high = slaney_hz_to_mel(55.0), slaney_hz_to_mel(7600.0)
    edges = [slaney_mel_to_hz(low + (high - low) * k / (bands + 1)) for k in range(bands + 2)]
    weights = np.zeros((bands, bins))
    for band in range(bands):
        left, centre, right = edges[band], edges[band + 1], edges[band + 2]
        for index in range(bins):
            hz = index * rate / 2 / (bins - 1)
            if left < hz <= centre:
                weights[band, index] = (hz - left) / (centre - left)
            elif centre < hz < right:
                weights[band, index] = (right - hz) / (right - centre)
        weights[band] *= 2.0 / (right - left)
    return weights


def reference_mel(speech: Audio) -> npt.NDArray[np.float64]:
    """Wav2Lip's audio.melspectrogram, frame by frame."""
    x = speech.astype(np.float64)
    emphasised = np.array([x[0]] + [x[n] - 0.97 * x[n - 1] for n in range(1, len(x))])
    n_fft, hop, count = 800, 200, len(x)

    def sample(j: int) -> float:  # reflection about the first and last samples
        if j < 0:
            return float(emphasised[-j])
        if j >= count:
            return float(emphasised[2 * (count - 1) - j])
        return float(emphasised[j])

    window = np.array([np.sin(np.pi * n / n_fft) ** 2 for n in range(n_fft)])
    k = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(n_fft)[None, :]
    cosines, sines = np.cos(2 * np.pi * k * n / n_fft), np.sin(2 * np.pi * k * n / n_fft)
    weights = reference_filterbank()
    frames = []
    for t in range(1 + count // hop):
        segment = np.array([sample(t * hop - n_fft // 2 + i) for i in range(n_fft)]) * window
        magnitude = np.hypot(cosines @ segment, sines @ segment)
        mel = weights @ magnitude
        db = np.array([20 * np.log10(max(1e-5, m)) - 20 for m in mel])
        frames.append(np.clip(8 * (db + 100) / 100 - 4, -4, 4))
    return np.array(frames).T


def test_the_filterbank_is_slaneys() -> None:
    weights = mel_filterbank()
    assert weights.shape == (80, 401)
    np.testing.assert_allclose(weights, reference_filterbank(), rtol=1e-9, atol=1e-15)
    # the first band starts at 55 Hz (bin 2.75), the last ends at 7600 Hz (bin 380)
    assert np.flatnonzero(weights[0])[0] == 3
    assert np.flatnonzero(weights[-1])[-1] == 379


def test_the_mel_matches_a_slow_reference(speech: Audio) -> None:
    short = speech[:9_000]
    mel = melspectrogram(short)
    assert mel.dtype == np.float32
    assert mel.shape == (80, 1 + 9_000 // 200)
    np.testing.assert_allclose(mel, reference_mel(short), rtol=0, atol=2e-4)
    assert mel.min() >= -4 and mel.max() <= 4
    assert mel.max() > 1 and mel.min() < -2  # words and pauses
    # silence is the floor; a tiny signal still gives whole frames
    assert np.all(melspectrogram(np.zeros(1_000, np.float32)) == -4)
    assert melspectrogram(np.zeros(3, np.float32)).shape == (80, 3)


def test_a_frames_window_starts_at_80_i_over_fps_and_repeats_the_last_frame() -> None:
    mel = np.tile(np.arange(50, dtype=np.float32), (80, 1))
    np.testing.assert_array_equal(mel_window(mel, 0, FPS)[0], np.arange(16))
    np.testing.assert_array_equal(mel_window(mel, 7, FPS)[0], np.arange(22, 38))  # 22.4
    np.testing.assert_array_equal(mel_window(mel, 3, 29.97)[0], np.arange(8, 24))  # 8.008
    np.testing.assert_array_equal(mel_window(mel, 12, FPS)[0], [*range(38, 50), 49, 49, 49, 49])
    assert mel_window(mel, 12, FPS).flags.c_contiguous
    with pytest.raises(ValueError, match="frame must be >= 0"):
        mel_window(mel, -1, FPS)


# --- tiny models -------------------------------------------------------------------------------


def _const(name: str, values: list[int] | list[float]) -> onnx.TensorProto:
    dtype = np.int64 if isinstance(values[0], int) else np.float32
    return numpy_helper.from_array(np.array(values, dtype=dtype), name)


def _model(
    nodes: list[Any],
    initializers: list[onnx.TensorProto],
    *,
    size: int = 96,
    batch: int | str = "batch",
    mel_shape: tuple[int, ...] = (1, 80, 16),
    names: tuple[str, str, str] = ("mel", "face", "output"),
) -> onnx.ModelProto:
    mel, face, output = names
    graph = helper.make_graph(
        nodes,
        "lipsync",
        [
            helper.make_tensor_value_info(mel, TensorProto.FLOAT, [batch, *mel_shape]),
            helper.make_tensor_value_info(face, TensorProto.FLOAT, [batch, 6, size, size]),
        ],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, 3, size, size])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference_model(*, first: int = 3, **shape: Any) -> onnx.ModelProto:
    """output = the reference face (channels 3-5; or the masked target, 0-2, from first=0); the
    mel is read and thrown away."""
    names = shape.get("names", ("mel", "face", "output"))
    nodes = [
        helper.make_node("Slice", [names[1], "first", "last", "one"], ["ref"]),
        helper.make_node("ReduceSum", [names[0]], ["total"], keepdims=1),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["ref", "nothing"], [names[2]]),
    ]
    consts = [_const("first", [first]), _const("last", [first + 3]), _const("one", [1])]
    return _model(nodes, [*consts, _const("zero", [0.0])], **shape)


def blue_model() -> onnx.ModelProto:
    """output = the reference's first channel in all three."""
    nodes = [helper.make_node("Gather", ["face", "firsts"], ["output"], axis=1)]
    return _model(nodes, [_const("firsts", [3, 3, 3])])


def mel_model(size: int = 96) -> onnx.ModelProto:
    """A flat picture: channel 0 = the mean of the window's first mel frame, 1 = of its last,
    2 = of the whole window, each mapped from [-4, 4] to [0, 1]; the faces are thrown away."""
    nodes = [
        helper.make_node("Slice", ["mel", "start0", "end0", "axis3"], ["first"]),
        helper.make_node("Slice", ["mel", "start15", "end15", "axis3"], ["last"]),
        helper.make_node("ReduceMean", ["first"], ["m0"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("ReduceMean", ["last"], ["m1"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("ReduceMean", ["mel"], ["m2"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Concat", ["m0", "m1", "m2"], ["means"], axis=1),
        helper.make_node("Add", ["means", "four"], ["shifted"]),
        helper.make_node("Mul", ["shifted", "eighth"], ["colour"]),
        helper.make_node("Slice", ["face", "start0", "three", "axis1"], ["target"]),
        helper.make_node("Mul", ["target", "zero"], ["blank"]),
        helper.make_node("Add", ["blank", "colour"], ["output"]),
    ]
    consts = [
        *(_const(n, [v]) for n, v in [("start0", 0), ("end0", 1), ("start15", 15)]),
        *(_const(n, [v]) for n, v in [("end15", 16), ("three", 3), ("axis1", 1), ("axis3", 3)]),
        *(_const(n, [v]) for n, v in [("four", 4.0), ("eighth", 0.125), ("zero", 0.0)]),
    ]
    return _model(nodes, consts, size=size)


def model_dir(root: Path, model: onnx.ModelProto, **spec: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    onnx.save(model, root / "model.onnx")
    description = {"name": "tiny-lips", "licence": "MIT", "commercial_use": True, **spec}
    (root / "lipsync.json").write_text(json.dumps(description), encoding="utf-8")
    return root


def engine(root: Path) -> OnnxMouthEngine:
    return OnnxMouthEngine(OnnxLipsyncConfig(model_dir=root, device="cpu"))


def picture(side: int, seed: int) -> Picture:
    """A smooth random picture (so that resizing it is nearly lossless)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return np.asarray(cv2.resize(coarse, (side, side), interpolation=cv2.INTER_CUBIC))


def cue(speech: Audio, frames: int, bank: list[FaceCrop]) -> MouthCue:
    return MouthCue(
        fps=FPS, targets=np.zeros((frames, 2), np.float32), speech=speech, bank=tuple(bank)
    )


# --- the engine --------------------------------------------------------------------------------


def test_the_lower_half_is_the_models_and_the_reference_is_the_banks_median_mouth(
    tmp_path: Path, speech: Audio
) -> None:
    mouths = engine(model_dir(tmp_path / "m", reference_model()))
    bank = [
        FaceCrop(picture(96, seed), opening, 0.5)
        for seed, opening in enumerate([0.1, 0.9, 0.28, 0.0, 0.3])
    ]
    face = FaceCrop(picture(96, 9), 0.2, 0.5)
    line = mouths.line(cue(speech, 10, bank))
    for offset in range(3):
        out = line.mouth(offset, face)
        assert out.dtype == np.uint8 and out.shape == (96, 96, 3)
        np.testing.assert_array_equal(out[:48], face.image[:48])
        np.testing.assert_array_equal(out[48:], bank[2].image[48:])  # the median opening
    # an empty bank: the frame's own face is the reference
    alone = mouths.line(cue(speech, 10, []))
    np.testing.assert_array_equal(alone.mouth(0, face), face.image)
    # the target's lower half reaches the model blacked out, its upper half as it is
    masked = engine(model_dir(tmp_path / "target", reference_model(first=0)))
    out = masked.line(cue(speech, 10, bank)).mouth(0, face)
    np.testing.assert_array_equal(out[:48], face.image[:48])
    assert np.all(out[48:] == 0)


@pytest.mark.parametrize("side", [64, 150, 97])
def test_crops_of_another_size_are_resized_both_ways(
    tmp_path: Path, speech: Audio, side: int
) -> None:
    mouths = engine(model_dir(tmp_path / "m", reference_model(size=48), face_size=48))
    reference = FaceCrop(picture(side, 1), 0.3, 0.5)
    face = FaceCrop(picture(side, 2), 0.3, 0.5)
    out = mouths.line(cue(speech, 4, [reference])).mouth(0, face)
    assert out.shape == face.image.shape
    half = side // 2
    np.testing.assert_array_equal(out[:half], face.image[:half])
    error = np.abs(out[half:].astype(int) - reference.image[half:]).mean()
    assert error < 4  # through 48 px and back
    assert np.abs(out[half:].astype(int) - face.image[half:]).mean() > 30


def test_faces_go_in_and_come_out_in_the_declared_channel_order(
    tmp_path: Path, speech: Audio
) -> None:
    reference = FaceCrop(picture(96, 1), 0.3, 0.5)
    face = FaceCrop(picture(96, 2), 0.3, 0.5)
    bgr = engine(model_dir(tmp_path / "bgr", blue_model()))
    rgb = engine(model_dir(tmp_path / "rgb", blue_model(), colour_order="rgb"))
    out = bgr.line(cue(speech, 1, [reference])).mouth(0, face)
    for channel in range(3):  # the model saw the reference's blue first
        np.testing.assert_array_equal(out[48:, :, channel], reference.image[48:, :, 2])
    out = rgb.line(cue(speech, 1, [reference])).mouth(0, face)
    for channel in range(3):
        np.testing.assert_array_equal(out[48:, :, channel], reference.image[48:, :, 0])


def test_each_frame_gets_its_own_mel_window(tmp_path: Path, speech: Audio) -> None:
    """Frame i's picture shows the window from mel frame int(80 i / 25) of the line's speech,
    computed here by the slow reference; the speech runs out before the line does."""
    frames, samples = 40, 16_000  # 1.6 s of line, 1 s of speech
    mouths = engine(model_dir(tmp_path / "m", mel_model(), colour_order="rgb"))
    face = FaceCrop(picture(96, 3), 0.3, 0.5)
    line = mouths.line(cue(speech[:samples], frames, []))
    padded = np.concatenate([speech[:samples], np.zeros(frames * 640 - samples, np.float32)])
    mel = reference_mel(padded)
    seen, expected = [], []
    for offset in range(frames):
        start = int(80 * offset / FPS)
        columns = [min(start + c, mel.shape[1] - 1) for c in range(16)]
        window = mel[:, columns]
        expected.append([window[:, 0].mean(), window[:, 15].mean(), window.mean()])
        seen.append(line.mouth(offset, face)[60, 40])
    want = np.rint((np.array(expected) + 4) / 8 * 255)
    np.testing.assert_allclose(np.array(seen, dtype=float), want, rtol=0, atol=1)
    assert np.ptp(want[:, 0]) > 60  # words and pauses: the windows differ
    assert np.all(want[-10:] == 0)  # silence after the speech: -4 throughout


def test_the_licence_flag_follows_lipsync_json(tmp_path: Path) -> None:
    free = engine(model_dir(tmp_path / "free", reference_model())).info
    assert free.is_commercial_use_ok
    assert free.licence == "MIT"
    assert free.name == "lipsync.onnx"
    assert free.model_id.startswith("tiny-lips@") and free.model_id.endswith("+96px+bgr")
    wav2lip = engine(
        model_dir(
            tmp_path / "w2l",
            reference_model(),
            name="wav2lip-gan",
            licence="Wav2Lip: personal, research and non-commercial use only",
            commercial_use=False,
        )
    ).info
    assert not wav2lip.is_commercial_use_ok
    assert wav2lip.licence.endswith("(NON-COMMERCIAL)")
    research = engine(
        model_dir(tmp_path / "nc", reference_model(), licence="research only")  # says true
    ).info
    assert not research.is_commercial_use_ok
    assert "NON-COMMERCIAL" in research.licence
    rgb = engine(model_dir(tmp_path / "rgb", reference_model(), colour_order="rgb")).info
    assert len({free.fingerprint, rgb.fingerprint, wav2lip.fingerprint}) == 3


def _refused(root: Path, *fragments: str) -> None:
    with pytest.raises(ModelNotAvailable) as caught:
        engine(root)
    message = caught.value.user_message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_a_missing_directory_or_file_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path / "nowhere", "does not exist", "GV_LIPSYNC__MODEL_DIR", "docs/lipsync.md")
    root = model_dir(tmp_path / "m", reference_model())
    (root / "model.onnx").unlink()
    _refused(root, "lacks model.onnx", "docs/lipsync.md")
    (root / "lipsync.json").unlink()
    _refused(root, "lacks model.onnx, lipsync.json")
    root = model_dir(tmp_path / "junk", reference_model())
    (root / "model.onnx").write_bytes(b"not a protobuf")
    _refused(root, "could not be loaded by onnxruntime", "export the model again")


def test_a_malformed_lipsync_json_is_refused(tmp_path: Path) -> None:
    root = model_dir(tmp_path / "m", reference_model())
    (root / "lipsync.json").write_text('{"name": "x",', encoding="utf-8")
    _refused(root, "lipsync.json is not readable JSON", "docs/lipsync.md")
    (root / "lipsync.json").write_text("[]", encoding="utf-8")
    _refused(root, "not a valid lip-sync model description")
    root = model_dir(tmp_path / "extra", reference_model(), batch=16)
    _refused(
        root, "not a valid lip-sync model description", "batch: Extra inputs are not permitted"
    )
    root = model_dir(tmp_path / "size", reference_model(), face_size=8)
    _refused(root, "face_size: Input should be greater than or equal to 16")
    root = model_dir(tmp_path / "order", reference_model(), colour_order="bgra")
    _refused(root, "colour_order: Input should be 'bgr' or 'rgb'")
    spec = json.loads((root / "lipsync.json").read_text(encoding="utf-8"))
    del spec["commercial_use"], spec["colour_order"]
    (root / "lipsync.json").write_text(json.dumps(spec), encoding="utf-8")
    _refused(root, "commercial_use: Field required")


def test_a_graph_that_does_not_match_lipsync_json_is_refused(tmp_path: Path) -> None:
    _refused(
        model_dir(tmp_path / "inputs", reference_model(names=("audio", "face", "output"))),
        "takes inputs ['audio', 'face'], not ['face', 'mel']",
        "fix mel_input/face_input/output in lipsync.json",
    )
    _refused(
        model_dir(tmp_path / "output", reference_model(), output="pred"),
        "has no output 'pred' (it has ['output'])",
    )
    _refused(
        model_dir(tmp_path / "size", reference_model(size=96), face_size=128),
        "input 'face' is tensor(float) ['batch', 6, 96, 96], not float32 of shape "
        "(batch, 6, 128, 128) with batch 1 or dynamic",
    )
    _refused(
        model_dir(tmp_path / "mel", reference_model(mel_shape=(1, 80, 20))),
        "input 'mel' is tensor(float) ['batch', 1, 80, 20], not float32 of shape "
        "(batch, 1, 80, 16)",
    )
    _refused(
        model_dir(tmp_path / "batch", reference_model(batch=16)),
        "with batch 1 or dynamic",
    )
    # batch fixed at 1 is fine, and so are names other than the defaults, when declared
    engine(model_dir(tmp_path / "one", reference_model(batch=1)))
    named = reference_model(names=("audio", "img", "pred"))
    engine(model_dir(tmp_path / "named", named, mel_input="audio", face_input="img", output="pred"))


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here"
)
def test_cuda_without_cuda_is_a_configuration_error(tmp_path: Path) -> None:
    root = model_dir(tmp_path / "m", reference_model())
    with pytest.raises(ConfigError, match="no CUDA: install onnxruntime-gpu"):
        OnnxMouthEngine(OnnxLipsyncConfig(model_dir=root, device="cuda"))
    built = OnnxMouthEngine(OnnxLipsyncConfig(model_dir=root, device="auto"))
    assert built.providers == ("CPUExecutionProvider",)


def test_cuda_is_asked_for_when_onnxruntime_lists_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An onnxruntime that lists CUDA gets it first (auto); where CUDA then fails to start, auto
    goes on on the CPU and cuda is a configuration error."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here")
    root = model_dir(tmp_path / "m", reference_model())
    asked: list[list[str]] = []
    real = ort.InferenceSession

    def session(path: str, providers: list[str]) -> Any:
        asked.append(providers)
        return real(path, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(ort, "InferenceSession", session)
    built = OnnxMouthEngine(OnnxLipsyncConfig(model_dir=root))
    assert asked == [["CUDAExecutionProvider", "CPUExecutionProvider"]]
    assert built.providers == ("CPUExecutionProvider",)
    with pytest.raises(ConfigError, match="could not start CUDA"):
        OnnxMouthEngine(OnnxLipsyncConfig(model_dir=root, device="cuda"))
    OnnxMouthEngine(OnnxLipsyncConfig(model_dir=root, device="cpu"))
    assert asked[-1] == ["CPUExecutionProvider"]


def test_the_registry_builds_it_from_settings(
    tmp_path: Path, speech: Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(Settings().lipsync, PatchLipsyncConfig)
    assert Settings().pipeline.lipsync == "auto"
    root = model_dir(tmp_path / "m", reference_model())
    monkeypatch.setenv("GV_LIPSYNC__KIND", "lipsync.onnx")
    monkeypatch.setenv("GV_LIPSYNC__MODEL_DIR", str(root))
    settings = Settings()
    assert settings.lipsync == OnnxLipsyncConfig(model_dir=root)
    built = build_lipsync(settings.lipsync)
    assert isinstance(built, OnnxMouthEngine)
    face = FaceCrop(picture(96, 5), 0.3, 0.5)
    assert built.line(cue(speech, 2, [face])).mouth(1, face).shape == (96, 96, 3)
    monkeypatch.setenv("GV_LIPSYNC__MODEL_DIR", str(tmp_path / "gone"))
    with pytest.raises(ModelNotAvailable, match="GV_LIPSYNC__MODEL_DIR"):
        build_lipsync(Settings().lipsync)
