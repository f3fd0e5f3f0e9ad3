from __future__ import annotations

from fastapi import APIRouter

import statservice
from statservice.api.deps import ServiceDep
from statservice.api.openapi import problems
from statservice.api.schemas import HealthPublic

router = APIRouter(prefix="/health", tags=["health"], responses=problems())


@router.get("", response_model=HealthPublic, summary="Liveness and the data version served")
async def health(service: ServiceDep) -> HealthPublic:
    try:
        version = service.data_version
    except Exception:
        version = None
    return HealthPublic(status="ok", version=statservice.__version__, data_version=version)
