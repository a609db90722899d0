"""/v1/health and /v1/languages."""

from fastapi import APIRouter
from pydantic import BaseModel

from globalvoice.api.deps import ContextDep, TenantDep

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["meta"])


class Health(BaseModel):
    status: str = "ok"


class LanguagePairOut(BaseModel):
    source: str
    target: str


class Languages(BaseModel):
    targets: list[str]
    pairs: list[LanguagePairOut]


@router.get("/health", summary="Liveness (no API key needed)")
def health() -> Health:
    return Health()


@router.get("/languages", summary="Target languages with a voice, and translatable pairs")
def languages(ctx: ContextDep, _tenant: TenantDep) -> Languages:
    support = ctx.languages
    return Languages(
        targets=sorted(support.targets),
        pairs=[LanguagePairOut(source=s, target=t) for s, t in sorted(support.pairs)],
    )
