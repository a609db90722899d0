"""What the operator-supplied ONNX engines share: reading the model directory's JSON
description and opening the onnxruntime session on the configured device."""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from globalvoice.config.mt import is_non_commercial
from globalvoice.domain.errors import ConfigError, ModelNotAvailable
from globalvoice.engines.base import EngineInfo

__all__ = [
    "MODEL_FILE",
    "OnnxUse",
    "engine_info",
    "model_digest",
    "model_path",
    "open_session",
    "providers",
    "read_description",
]

MODEL_FILE = "model.onnx"

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
    spec_file: str  # "separator.json"
    directory: str  # "separation model directory"
    dir_setting: str  # "GV_SEPARATOR__MODEL_DIR"


def model_path(root: Path, use: OnnxUse) -> Path:
    if not root.is_dir():
        raise ModelNotAvailable(
            f"The {use.directory} {root} does not exist: put {MODEL_FILE} and "
            f"{use.spec_file} there ({use.docs}), then set {use.dir_setting}."
        )
    missing = [name for name in (MODEL_FILE, use.spec_file) if not (root / name).is_file()]
    if missing:
        raise ModelNotAvailable(
            f"The {use.directory} {root} lacks {', '.join(missing)}: export the "
            f"model to {MODEL_FILE} and describe it in {use.spec_file} ({use.docs})."
        )
    return root / MODEL_FILE


def model_digest(model: Path) -> str:
    hasher = hashlib.sha256()
    with model.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 22), b""):
            hasher.update(chunk)
    return hasher.hexdigest()[:12]


def engine_info(name: str, model_id: str, *, licence: str, commercial_use: bool) -> EngineInfo:
    """A model is commercial-use only when its description says so and its licence text does
    not say otherwise (CC BY-NC, research only...); a non-commercial one's licence says
    NON-COMMERCIAL."""
    commercial = commercial_use and not is_non_commercial(licence)
    if not commercial and "NON-COMMERCIAL" not in licence:
        licence = f"{licence} (NON-COMMERCIAL)"
    return EngineInfo(
        name=name, model_id=model_id, licence=licence, is_commercial_use_ok=commercial
    )


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
