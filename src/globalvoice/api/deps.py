"""Dependencies: the context the app was built with, and the caller's tenant from the API key.

Database work runs in short transactions (`ctx.sessions.begin()`): SQLite takes its write lock
when a transaction begins, so no request keeps one open while it streams or probes media.
"""

from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from globalvoice.api.context import ApiContext
from globalvoice.api.errors import Unauthorized
from globalvoice.storage.db import repo

__all__ = ["ContextDep", "TenantDep", "get_context", "tenant_id"]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


def get_context(request: Request) -> ApiContext:
    return cast(ApiContext, request.app.state.context)


ContextDep = Annotated[ApiContext, Depends(get_context)]


def tenant_id(
    ctx: ContextDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> str:
    """The tenant owning the key in `Authorization: Bearer` or `X-API-Key`; 401 otherwise."""
    key = bearer.credentials if bearer is not None else api_key
    if not key:
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>` or `X-API-Key`.")
    with ctx.sessions.begin() as session:
        tenant = repo.tenant_for_key(session, key.strip())
        found = tenant.id if tenant is not None else None
    if found is None:
        raise Unauthorized("Invalid or revoked API key.")
    return found


TenantDep = Annotated[str, Depends(tenant_id)]
