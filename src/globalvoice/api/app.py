"""The FastAPI application: /v1 routes over a context its caller built."""

from typing import Any

from fastapi import FastAPI

from globalvoice import __version__
from globalvoice.api.context import ApiContext
from globalvoice.api.errors import install_error_handlers
from globalvoice.api.routes import artifacts, dubs, events, glossary, meta, uploads, voices
from globalvoice.api.schemas import ErrorResponse

__all__ = ["create_app"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "no such resource for this API key"},
    409: {"model": ErrorResponse, "description": "conflicting state or idempotency key"},
    413: {"model": ErrorResponse, "description": "file too large"},
    422: {"model": ErrorResponse, "description": "invalid request or unusable media"},
    501: {"model": ErrorResponse, "description": "not set up on this server"},
    503: {"model": ErrorResponse, "description": "temporarily unavailable; retry"},
}


def create_app(context: ApiContext) -> FastAPI:
    """The API. It owns nothing: the caller builds and closes the context's resources."""
    app = FastAPI(
        title="GlobalVoice API",
        version=__version__,
        summary="Dub videos into other languages: upload, dub, follow progress, download.",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        responses=_ERRORS,
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (meta, uploads, dubs, events, artifacts, voices, glossary):
        app.include_router(module.router)
    return app
