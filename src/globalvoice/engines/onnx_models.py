"""What the operator-supplied ONNX engines share: reading the model directory's JSON
description and opening the onnxruntime session on the configured device."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from globalvoice.domain.errors import ConfigError, ModelNotAvailable

__all__ = ["OnnxUse", "open_session", "providers", "read_description"]

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

Spec = TypeVar("Spec", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class OnnxUse:
    """Who opens a model, for the messages: "The ONNX separator" / "the separator",
    its device setting and its documentation."""

    engine: str  # "separator", "lip-sync engine"
    device_setting: str  # "GV_SEPARATOR__DEVICE"
    docs: str  # "docs/separation.md"
    description: str  # "separator description"


def read_description(path: Path, spec: type[Spec], use: OnnxUse) -> Spec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelNotAvailable(
            f"{path} is not readable JSON ({err}): fix it ({use.docs})."
        ) from err
    try:
        return spec.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in err.errors()
        )
        raise ModelNotAvailable(
            f"{path} is not a valid {use.description} ({problems}): fix it ({use.docs}).",
            detail=str(err),
        ) from err


def providers(device: str, available: list[str], use: OnnxUse) -> list[str]:
    if device == "cpu":
        return [CPU]
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise ConfigError(
            f"The {use.engine}'s device is cuda but this onnxruntime has no CUDA: install "
            f"onnxruntime-gpu with CUDA and cuDNN, or set {use.device_setting}=auto or cpu."
        )
    return [CPU]


def open_session(model: Path, device: str, use: OnnxUse) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ModelNotAvailable(
            f"The ONNX {use.engine} needs onnxruntime: pip install 'globalvoice[embedded]' "
            "(or onnxruntime-gpu for CUDA)."
        ) from err
    chosen = providers(device, list(ort.get_available_providers()), use)
    try:
        session = ort.InferenceSession(str(model), providers=chosen)
    except Exception as err:  # onnxruntime raises its own (pybind) exception types
        raise ModelNotAvailable(
            f"{model} could not be loaded by onnxruntime: export the model again ({use.docs}).",
            detail=str(err),
        ) from err
    if device == "cuda" and CUDA not in session.get_providers():
        raise ConfigError(
            f"The {use.engine}'s device is cuda but onnxruntime could not start CUDA (see its "
            f"log): check the CUDA and cuDNN libraries, or set {use.device_setting}=auto or cpu."
        )
    return session
