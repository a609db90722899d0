"""API errors and the handlers that turn every failure into `{"error": {"code", "message"}}`.

UserFacingError messages are written for users and go out as they are; anything else is logged
and answered with a generic message, never a traceback.
"""

import logging
from collections.abc import Mapping
from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from globalvoice.domain.errors import (
    GlobalVoiceError,
    IdempotencyConflict,
    NotFound,
    RetryableError,
    UserFacingError,
)

__all__ = [
    "Conflict",
    "FeatureUnavailable",
    "LaunchFailed",
    "LengthRequired",
    "PayloadTooLarge",
    "Unauthorized",
    "error_body",
    "install_error_handlers",
    "status_for",
]

log = logging.getLogger(__name__)


class Unauthorized(UserFacingError):
    code: ClassVar[str] = "auth.invalid_key"


class Conflict(UserFacingError):
    """The resource is not in a state that allows the request (e.g. an upload not received yet)."""

    code: ClassVar[str] = "conflict"


class PayloadTooLarge(UserFacingError):
    code: ClassVar[str] = "upload.too_large"


class LengthRequired(UserFacingError):
    code: ClassVar[str] = "upload.length_required"


class FeatureUnavailable(UserFacingError):
    """This server is not set up for the feature (e.g. no voice library)."""

    code: ClassVar[str] = "feature.unavailable"


class LaunchFailed(RetryableError):
    code: ClassVar[str] = "dub.launch_failed"


_STATUS: tuple[tuple[type[GlobalVoiceError], int], ...] = (
    (Unauthorized, 401),
    (NotFound, 404),
    (IdempotencyConflict, 409),
    (Conflict, 409),
    (LengthRequired, 411),
    (PayloadTooLarge, 413),
    (FeatureUnavailable, 501),
    (UserFacingError, 422),
    (RetryableError, 503),
)
_HTTP_CODES = {401: "auth.invalid_key", 404: "not_found", 405: "method_not_allowed"}
_RETRY_AFTER_S = "5"


def status_for(err: GlobalVoiceError) -> int:
    return next((status for cls, status in _STATUS if isinstance(err, cls)), 500)


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def _json(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def _globalvoice_error(_request: Request, exc: GlobalVoiceError) -> JSONResponse:
    status = status_for(exc)
    if status == 500:  # configuration errors: for the operator's log, not the caller
        log.error("%s: %s (%s)", exc.code, exc.user_message, exc.detail)
        return _json(500, exc.code, "The service is misconfigured; try again later.")
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        log.warning("%s: %s (%s)", exc.code, exc.user_message, exc.detail)
        headers = {"Retry-After": _RETRY_AFTER_S}
    return _json(status, exc.code, exc.user_message, headers)


async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
    return _json(exc.status_code, code, str(exc.detail), exc.headers)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in exc.errors()
    ]
    return _json(422, "request.invalid", "; ".join(problems) or "invalid request")


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return _json(500, "internal", "Internal error; try again later.")


def install_error_handlers(app: FastAPI) -> None:
    app.exception_handler(GlobalVoiceError)(_globalvoice_error)
    app.exception_handler(HTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(Exception)(_unexpected)
