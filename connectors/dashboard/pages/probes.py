"""Probes and metrics: ``/healthz``, ``/readyz``, ``/metrics``. No session, no case data."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from connectors.dashboard.context import CurrentDashboard
from connectors.http_metrics import metrics_response

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(dashboard: CurrentDashboard) -> JSONResponse:
    broker = await dashboard.actions.broker_answers()
    checks = {
        "broker": broker,
        "topics_read": dashboard.model.caught_up,
        "case_states": dashboard.model.states_read_at is not None,
        "directory": dashboard.model.directory_ready,
        "registry": len(list(dashboard.schemas)) > 0,
        "operators": len(dashboard.operators) > 0,
    }
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics(dashboard: CurrentDashboard) -> Response:
    return metrics_response(dashboard.metrics_registry)
