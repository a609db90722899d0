"""/v1/glossary: the tenant's glossary, applied to every dub it creates from then on (a dub's
own `glossary` entries override it term by term). Each dub keeps the merged glossary it was
created with, so changing this one never changes a dub already made."""

from fastapi import APIRouter

from globalvoice.api.deps import ContextDep, TenantDep
from globalvoice.api.glossary_schemas import GlossaryEntryIn, GlossaryIn, GlossaryOut, to_entries
from globalvoice.domain.glossary import entry_record
from globalvoice.storage.db import repo

__all__ = ["router"]

router = APIRouter(tags=["glossary"])


@router.get("/v1/glossary", summary="The tenant's glossary")
def get_glossary(ctx: ContextDep, tenant: TenantDep) -> GlossaryOut:
    with ctx.sessions.begin() as session:
        records = repo.get_glossary(session, tenant)
    return GlossaryOut(entries=[GlossaryEntryIn.model_validate(r) for r in records])


@router.put("/v1/glossary", summary="Replace the tenant's glossary (an empty list clears it)")
def put_glossary(ctx: ContextDep, tenant: TenantDep, body: GlossaryIn) -> GlossaryOut:
    entries = to_entries(body.entries)
    records = [entry_record(entry) for entry in entries]
    with ctx.sessions.begin() as session:
        repo.set_glossary(session, tenant, list(records))
    return GlossaryOut(entries=[GlossaryEntryIn.model_validate(r) for r in records])
