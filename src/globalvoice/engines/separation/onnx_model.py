"""A music/vocals separation model exported to ONNX (HTDemucs, MDX, RoFormer...): the operator's.

The model directory holds `model.onnx` and `separator.json` (docs/separation.md). The graph takes
the mix, (1, channels, samples) float32, and gives the dialogue (vocals) in the same shape; the
background is the mix minus the dialogue, so the stems sum to the mix exactly.

Streaming: the mix is cut into segments of `segment_s` that overlap by `overlap_s`. Each segment's
output is weighted by a raised-cosine ramp over its overlaps (flat at the very start and end of
the soundtrack) and the overlapping outputs are added and divided by the sum of their weights, so
a segment's edges fade into its neighbour's middle and identical outputs come out unchanged. Only
one segment of mix and one overlap of output are held; a segment's first `segment - overlap`
frames come out as soon as it has run, and `finish` runs the last, zero-padded segment.

Channels: a mono soundtrack into a stereo model goes in on both channels and its dialogue is the
average of the two outputs; a stereo soundtrack into a mono model runs each channel on its own
(twice the work, but panned dialogue stays where it was and the background keeps its image).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from globalvoice.config.settings import OnnxSeparatorConfig
from globalvoice.domain.errors import ConfigError, ModelNotAvailable
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.onnx_models import (
    OnnxUse,
    engine_info,
    model_digest,
    model_path,
    open_session,
    read_description,
)
from globalvoice.engines.separation.protocol import Block, Stems

__all__ = ["OnnxSeparator", "OnnxSeparatorSpec", "OnnxStream"]

MODEL_FILE = "model.onnx"
SPEC_FILE = "separator.json"
_USE = OnnxUse(
    engine="separator",
    device_setting="GV_SEPARATOR__DEVICE",
    docs="docs/separation.md",
    description="separator description",
    spec_file="separator.json",
    directory="separation model directory",
    dir_setting="GV_SEPARATOR__MODEL_DIR",
)
_FLOAT = "tensor(float)"
_Weights = npt.NDArray[np.float64]


class OnnxSeparatorSpec(BaseModel):
    """separator.json: what the model is and how to run it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    name: str = Field(min_length=1, description="the model's name, e.g. htdemucs-ft")
    licence: str = Field(min_length=1, description="the weights' licence, e.g. MIT")
    commercial_use: bool = Field(description="whether the licence allows commercial use")
    rate_hz: int = Field(ge=8_000, le=192_000, description="the rate the model was trained at")
    channels: Literal[1, 2] = Field(description="the channels of the model's input and output")
    segment_s: float = Field(gt=0, le=600, description="seconds of audio per model run")
    overlap_s: float = Field(default=1.0, ge=0, description="seconds shared by neighbouring runs")
    input: str = Field(default="mix", min_length=1, description="the graph's input name")
    dialogue_output: str = Field(default="vocals", min_length=1, description="the output name")

    @model_validator(mode="after")
    def _overlap_within_segment(self) -> "OnnxSeparatorSpec":
        if self.overlap_s >= self.segment_s:
            raise ValueError("overlap_s must be shorter than segment_s")
        if round(self.segment_s * self.rate_hz) < 2:
            raise ValueError("segment_s is shorter than two samples at rate_hz")
        return self

    @property
    def segment_frames(self) -> int:
        return round(self.segment_s * self.rate_hz)

    @property
    def overlap_frames(self) -> int:
        return min(round(self.overlap_s * self.rate_hz), self.segment_frames - 1)


class OnnxSeparator:
    def __init__(self, config: OnnxSeparatorConfig) -> None:
        root = config.model_dir.expanduser()
        model = model_path(root, _USE)
        self._spec = read_description(root / SPEC_FILE, OnnxSeparatorSpec, _USE)
        self._session = open_session(model, config.device, _USE)
        _check_graph(self._session, self._spec, model)
        self._info = _engine_info(self._spec, model_digest(model))

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def rate_hz(self) -> int:
        return self._spec.rate_hz

    @property
    def providers(self) -> tuple[str, ...]:
        """The onnxruntime execution providers the session runs on, preferred first."""
        return tuple(self._session.get_providers())

    def stream(self, channels: int) -> "OnnxStream":
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, not {channels}")
        return OnnxStream(self._run_segment, self._spec, channels)

    def _run_segment(self, mix: Block) -> Block:
        """The dialogue of one segment of `mix` (segment_frames, channels): any channel count in,
        the same out (see the module's docstring)."""
        model_channels = self._spec.channels
        if mix.shape[1] == model_channels:
            return self._run(mix)
        if model_channels == 2:  # mono into a stereo model
            both = self._run(np.repeat(mix, 2, axis=1))
            mean: Block = both.mean(axis=1, keepdims=True, dtype=np.float32)
            return mean
        return np.concatenate([self._run(mix[:, [c]]) for c in range(mix.shape[1])], axis=1)

    def _run(self, mix: Block) -> Block:
        feed = {self._spec.input: np.ascontiguousarray(mix.T[None, :, :], dtype=np.float32)}
        try:
            (out,) = self._session.run([self._spec.dialogue_output], feed)
        except Exception as err:  # onnxruntime raises its own (pybind) exception types
            raise ConfigError(
                f"The separation model {self._spec.name} failed on a segment: check the device's "
                "memory, or use a shorter segment_s in separator.json.",
                detail=str(err),
            ) from err
        result = np.asarray(out, dtype=np.float32)
        if result.shape != feed[self._spec.input].shape:
            raise ModelNotAvailable(
                f"The separation model {self._spec.name} returned {self._spec.dialogue_output} of "
                f"shape {result.shape} for an input of {feed[self._spec.input].shape}: export it "
                "so that its dialogue output has the input's shape."
            )
        return np.ascontiguousarray(result[0].T)


class OnnxStream:
    """Segments with overlap, raised-cosine crossfaded; output lines up 1:1 with the input."""

    def __init__(
        self, run: Callable[[Block], Block], spec: OnnxSeparatorSpec, channels: int
    ) -> None:
        self._run = run
        self._segment = spec.segment_frames
        self._overlap = spec.overlap_frames
        self._channels = channels
        self._up, self._down = _ramps(self._segment, self._overlap)
        # the mix from the first frame not yet returned; the next segment starts there
        self._mix = np.zeros((0, channels), dtype=np.float32)
        # weighted output and weights already added to the first `overlap` frames of _mix
        self._sum = np.zeros((0, channels), dtype=np.float64)
        self._weight = np.zeros(0, dtype=np.float64)
        self._first = True

    def push(self, mix: Block) -> Stems:
        if mix.ndim != 2 or mix.shape[1] != self._channels:
            raise ValueError(f"expected (frames, {self._channels}) blocks, got {mix.shape}")
        self._mix = np.concatenate([self._mix, mix.astype(np.float32, copy=False)])
        done: list[Stems] = []
        while len(self._mix) >= self._segment:
            done.append(self._step(self._segment, last=False))
        return _concat(done, self._channels)

    def finish(self) -> Stems:
        left = len(self._mix)
        if left == 0:
            return Stems.empty(self._channels)
        return self._step(left, last=True)

    def _step(self, real: int, *, last: bool) -> Stems:
        """Run the segment that starts at _mix[0] (`real` frames of mix, zero-padded to a whole
        segment) and return the frames no later segment reaches: all `real` when `last`."""
        segment = np.zeros((self._segment, self._channels), dtype=np.float32)
        segment[:real] = self._mix[:real]
        dialogue = self._run(segment).astype(np.float64)
        weights = np.ones(self._segment, dtype=np.float64)
        if not self._first:
            weights *= self._up
        if not last:
            weights *= self._down
        self._first = False
        total = dialogue * weights[:, None]
        weight = weights.copy()
        total[: len(self._sum)] += self._sum
        weight[: len(self._weight)] += self._weight
        emit = real if last else self._segment - self._overlap
        out = (total[:emit] / weight[:emit, None]).astype(np.float32)
        mix = self._mix[:emit]
        self._sum, self._weight = total[emit:], weight[emit:]
        self._mix = self._mix[emit:]
        return Stems(dialogue=out, background=mix - out)


def _ramps(segment: int, overlap: int) -> tuple[_Weights, _Weights]:
    """A segment's fade-in and fade-out weights: a raised-cosine over `overlap` frames, sampled
    half a frame in (never 0), flat elsewhere. One segment's fade-out plus the next one's fade-in
    is 1 at every frame of their overlap."""
    fade = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / max(overlap, 1)) ** 2
    up = np.ones(segment, dtype=np.float64)
    up[:overlap] = fade
    return up, up[::-1].copy()


def _concat(parts: list[Stems], channels: int) -> Stems:
    if not parts:
        return Stems.empty(channels)
    if len(parts) == 1:
        return parts[0]
    return Stems(
        dialogue=np.concatenate([p.dialogue for p in parts]),
        background=np.concatenate([p.background for p in parts]),
    )


def _check_graph(session: Any, spec: OnnxSeparatorSpec, model: Path) -> None:
    """The graph takes `input` (1, channels, samples) float32 and gives `dialogue_output`."""
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = {node.name: node for node in session.get_outputs()}
    fix = f"fix input/dialogue_output in {SPEC_FILE} or export the model again"
    if spec.input not in inputs or len(inputs) != 1:
        raise ModelNotAvailable(
            f"{model} takes inputs {sorted(inputs)}, not just {spec.input!r}: {fix}."
        )
    if spec.dialogue_output not in outputs:
        raise ModelNotAvailable(
            f"{model} has no output {spec.dialogue_output!r} (it has {sorted(outputs)}): {fix}."
        )
    expected: list[int | None] = [1, spec.channels, spec.segment_frames]
    for role, node in (("input", inputs[spec.input]), ("output", outputs[spec.dialogue_output])):
        shape = list(node.shape)
        fixed = [d if isinstance(d, int) else None for d in shape]
        clash = any(f is not None and f != e for f, e in zip(fixed, expected, strict=False))
        if node.type != _FLOAT or len(shape) != 3 or clash:
            raise ModelNotAvailable(
                f"{model}'s {role} {node.name!r} is {node.type} {shape}, not float32 of shape "
                f"(1, {spec.channels}, samples) with samples = segment_s x rate_hz = "
                f"{spec.segment_frames} when fixed: fix {SPEC_FILE} or export the model again."
            )


def _engine_info(spec: OnnxSeparatorSpec, digest: str) -> EngineInfo:
    return engine_info(
        "separation.onnx",
        f"{spec.name}@{digest}+seg{spec.segment_s:g}s+ov{spec.overlap_s:g}s",
        licence=spec.licence,
        commercial_use=spec.commercial_use,
    )
