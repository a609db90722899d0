"""A Wav2Lip-class lip-sync model exported to ONNX: the operator's (docs/lipsync.md).

The model directory holds `model.onnx` and `lipsync.json`. The graph takes `mel`, float32
(batch, 1, 80, 16): the 0.2 s of speech a frame hears (engines.lipsync.mel), and `face`, float32
(batch, 6, S, S) in 0..1: channels 0-2 the frame's face with its lower half (rows S/2 on) zeroed,
channels 3-5 a reference face of the same person. It gives (batch, 3, S, S) in 0..1: the face
with the mouth for that speech. Wav2Lip was trained on OpenCV's BGR images, so by default the
channels go in and come out in BGR order.

The whole canonical crop is the model's face; the reference is the bank face whose mouth opening
is nearest the bank's median (neither shut nor wide), chosen once per line, or the frame's own
face when the bank is empty (as Wav2Lip's inference.py does). The returned crop is the frame's
own with the model's output, resized to its side, over its lower half.

Each frame runs on its own (batch 1): LineMouths.mouth gets one frame's face at a time, so
batching frames would need the protocol to hand over several faces at once.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from globalvoice.config.settings import OnnxLipsyncConfig
from globalvoice.domain.errors import ConfigError, ModelNotAvailable
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.lipsync.mel import (
    MEL_BANDS,
    RATE_HZ,
    WINDOW_FRAMES,
    mel_window,
    melspectrogram,
)
from globalvoice.engines.lipsync.protocol import FaceCrop, Image, MouthCue
from globalvoice.engines.onnx_models import (
    OnnxUse,
    engine_info,
    model_digest,
    model_path,
    open_session,
    read_description,
)

__all__ = ["OnnxLineMouths", "OnnxLipsyncSpec", "OnnxMouthEngine"]

MODEL_FILE = "model.onnx"
SPEC_FILE = "lipsync.json"
_USE = OnnxUse(
    engine="lip-sync engine",
    device_setting="GV_LIPSYNC__DEVICE",
    docs="docs/lipsync.md",
    description="lip-sync model description",
    spec_file="lipsync.json",
    directory="lip-sync model directory",
    dir_setting="GV_LIPSYNC__MODEL_DIR",
)
_FLOAT = "tensor(float)"
_Planes = npt.NDArray[np.float32]  # (3, S, S) in 0..1, in the model's channel order
_Mel = npt.NDArray[np.float32]
_RunFrame = Callable[[_Mel, Image, _Planes | None], Image]


class OnnxLipsyncSpec(BaseModel):
    """lipsync.json: what the model is and how to feed it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="the model's name, e.g. wav2lip-gan")
    licence: str = Field(min_length=1, description="the weights' licence, e.g. research only")
    commercial_use: bool = Field(description="whether the licence allows commercial use")
    face_size: int = Field(default=96, ge=16, le=1024, description="S: the face's side in pixels")
    colour_order: Literal["bgr", "rgb"] = Field(
        default="bgr", description="the face channels' order (Wav2Lip's is OpenCV's BGR)"
    )
    mel_input: str = Field(default="mel", min_length=1, description="the mel input's name")
    face_input: str = Field(default="face", min_length=1, description="the face input's name")
    output: str = Field(default="output", min_length=1, description="the face output's name")


class OnnxMouthEngine:
    def __init__(self, config: OnnxLipsyncConfig) -> None:
        root = config.model_dir.expanduser()
        model = model_path(root, _USE)
        self._spec = read_description(root / SPEC_FILE, OnnxLipsyncSpec, _USE)
        self._cv2 = _import_cv2()
        self._session = open_session(model, config.device, _USE)
        _check_graph(self._session, self._spec, model)
        self._info = _engine_info(self._spec, model_digest(model))

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def providers(self) -> tuple[str, ...]:
        """The onnxruntime execution providers the session runs on, preferred first."""
        return tuple(self._session.get_providers())

    def line(self, cue: MouthCue) -> "OnnxLineMouths":
        # the line is silent where its speech has ended
        samples = int(np.ceil(cue.frames * RATE_HZ / cue.fps))
        speech = np.asarray(cue.speech, dtype=np.float32).reshape(-1)
        if len(speech) < samples:
            speech = np.pad(speech, (0, samples - len(speech)))
        reference = _reference(cue)
        planes = None if reference is None else self._planes(reference.image)
        return OnnxLineMouths(self._mouth, melspectrogram(speech), cue.fps, planes)

    def _planes(self, image: Image) -> _Planes:
        """A crop at the model's size, channels first, in its channel order, in 0..1."""
        size = self._spec.face_size
        side = image.shape[0]
        if side != size:
            interpolation = self._cv2.INTER_AREA if side > size else self._cv2.INTER_CUBIC
            image = self._cv2.resize(image, (size, size), interpolation=interpolation)
        if self._spec.colour_order == "bgr":
            image = image[:, :, ::-1]
        planes: _Planes = image.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
        return planes

    def _mouth(self, window: _Mel, face: Image, reference: _Planes | None) -> Image:
        """One model run: `face` with the mouth for `window`, against `reference` (the face
        itself when None)."""
        size = self._spec.face_size
        target = self._planes(face)
        if reference is None:
            reference = target.copy()
        target[:, size // 2 :, :] = 0.0
        feed = {
            self._spec.mel_input: window[None, None],
            self._spec.face_input: np.concatenate([target, reference])[None],
        }
        try:
            (out,) = self._session.run([self._spec.output], feed)
        except Exception as err:  # onnxruntime raises its own (pybind) exception types
            raise ConfigError(
                f"The lip-sync model {self._spec.name} failed on a frame: check the device's "
                "memory and that the model is a Wav2Lip-class export (docs/lipsync.md).",
                detail=str(err),
            ) from err
        result = np.asarray(out, dtype=np.float32)
        if result.shape != (1, 3, size, size):
            raise ModelNotAvailable(
                f"The lip-sync model {self._spec.name} returned {self._spec.output} of shape "
                f"{result.shape}, not (1, 3, {size}, {size}): export it so that it does, or fix "
                f"face_size in {SPEC_FILE}."
            )
        return self._paste(result[0], face)

    def _paste(self, planes: _Planes, face: Image) -> Image:
        """`face` with the model's face, resized to its side, over rows side // 2 on."""
        side = face.shape[0]
        picture = planes.transpose(1, 2, 0)
        if self._spec.colour_order == "bgr":
            picture = picture[:, :, ::-1]
        picture = np.ascontiguousarray(picture * np.float32(255.0))
        if side != self._spec.face_size:
            interpolation = (
                self._cv2.INTER_CUBIC if side > self._spec.face_size else self._cv2.INTER_AREA
            )
            picture = self._cv2.resize(picture, (side, side), interpolation=interpolation)
        mouth: Image = face.copy()
        lower = np.clip(np.rint(picture[side // 2 :]), 0, 255)
        mouth[side // 2 :] = lower.astype(np.uint8)
        return mouth


class OnnxLineMouths:
    """One line's mel spectrogram and reference face; a model run per frame."""

    def __init__(self, run: _RunFrame, mel: _Mel, fps: float, reference: _Planes | None) -> None:
        self._run = run
        self._mel = mel
        self._fps = fps
        self._reference = reference

    def mouth(self, offset: int, face: FaceCrop) -> Image:
        return self._run(mel_window(self._mel, offset, self._fps), face.image, self._reference)


def _reference(cue: MouthCue) -> FaceCrop | None:
    """The bank face whose opening is nearest the bank's median (the first of equals)."""
    if not cue.bank:
        return None
    openings = np.array([face.opening for face in cue.bank], dtype=np.float64)
    return cue.bank[int(np.argmin(np.abs(openings - np.median(openings))))]


def _import_cv2() -> Any:
    try:
        import cv2
    except ImportError as err:
        raise ModelNotAvailable(
            "The ONNX lip-sync engine needs OpenCV: pip install 'globalvoice[embedded]'."
        ) from err
    return cv2


def _check_graph(session: Any, spec: OnnxLipsyncSpec, model: Path) -> None:
    """The graph takes `mel_input` (batch, 1, 80, 16) and `face_input` (batch, 6, S, S) and gives
    `output` (batch, 3, S, S), all float32; a fixed batch must be 1."""
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name: node for node in session.get_outputs()}
    fix = f"fix mel_input/face_input/output in {SPEC_FILE} or export the model again"
    wanted = {spec.mel_input, spec.face_input}
    if set(inputs) != wanted:
        raise ModelNotAvailable(
            f"{model} takes inputs {sorted(inputs)}, not {sorted(wanted)}: {fix}."
        )
    if spec.output not in outputs:
        raise ModelNotAvailable(
            f"{model} has no output {spec.output!r} (it has {sorted(outputs)}): {fix}."
        )
    size = spec.face_size
    for role, node, expected in (
        ("input", inputs[spec.mel_input], (1, MEL_BANDS, WINDOW_FRAMES)),
        ("input", inputs[spec.face_input], (6, size, size)),
        ("output", outputs[spec.output], (3, size, size)),
    ):
        shape = list(node.shape)
        fixed = [d if isinstance(d, int) else None for d in shape]
        clash = any(f is not None and f != e for f, e in zip(fixed, (1, *expected), strict=False))
        if node.type != _FLOAT or len(shape) != 4 or clash:
            dims = ", ".join(str(d) for d in expected)
            raise ModelNotAvailable(
                f"{model}'s {role} {node.name!r} is {node.type} {shape}, not float32 of shape "
                f"(batch, {dims}) with batch 1 or dynamic: fix face_size in {SPEC_FILE} or "
                "export the model again."
            )


def _engine_info(spec: OnnxLipsyncSpec, digest: str) -> EngineInfo:
    return engine_info(
        "lipsync.onnx",
        f"{spec.name}@{digest}+{spec.face_size}px+{spec.colour_order}",
        licence=spec.licence,
        commercial_use=spec.commercial_use,
    )
