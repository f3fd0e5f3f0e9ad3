from __future__ import annotations

from fastapi import APIRouter

import statservice
from statservice.api.deps import ServiceDep
from statservice.api.openapi import problems
from statservice.api.schemas import HealthPublic

router = APIRouter(prefix="/health", tags=["health"], responses=problems())


@router.get("", response_model=HealthPublic, summary="Liveness and the data version served")
async def health(service: ServiceDep) -> HealthPublic:
    # on the event loop, so it answers even when every thread is busy; it never opens the extract
    # (warm-up does at startup; otherwise the first query does)
    return HealthPublic(
        status="ok", version=statservice.__version__, data_version=service.loaded_data_version
    )
