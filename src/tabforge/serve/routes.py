"""The route table: every endpoint the server answers, and the only list of them.

app.py dispatches through it (404, 405 with ``Allow``), openapi.py documents it, and
tests/test_routing.py checks that the two agree.
"""

from __future__ import annotations

from typing import Any

from tabforge.contract import v1, v2
from tabforge.serve import admin, dashboard, endpoints
from tabforge.serve.feedback import FeedbackItem, FeedbackResult
from tabforge.serve.monitoring import DEFAULT_WINDOW, MonitorReport
from tabforge.serve.pages import Asset, Html
from tabforge.serve.routing import Route, Router
from tabforge.serve.slots import WINDOWS

# With TABFORGE_API_KEYS set, model endpoints answer 401 without a key and 403 with a wrong one.
GUARDED = (401, 403)
MODEL = (*GUARDED, 404, 503)
# What an inference request can get besides 200 (408: its body did not arrive in time).
INFER = (400, *GUARDED, 404, 408, 413, 415, 503)
ADMIN = (400, *GUARDED, 404, 413, 503, 507)
WINDOW = (("window", {"type": "string", "enum": list(WINDOWS), "default": DEFAULT_WINDOW}),)

# fmt: off
ROUTES = (
    Route("GET", "/v2/health/live", endpoints.live, "Liveness", dict[str, bool]),
    Route("GET", "/v2/health/ready", endpoints.ready, "Readiness", dict[str, bool],
          errors=(503,)),
    Route("GET", "/v2", endpoints.server_metadata, "Server metadata", endpoints.ServerMetadata),
    Route("GET", "/v2/models/{name}", endpoints.model_metadata, "Model metadata",
          v2.ModelMetadata, errors=MODEL, guard="inference"),
    Route("GET", "/v2/models/{name}/versions/{version}", endpoints.model_metadata,
          "Model version metadata", v2.ModelMetadata, errors=MODEL, guard="inference"),
    Route("GET", "/v2/models/{name}/ready", endpoints.model_ready, "Model readiness",
          endpoints.Ready, errors=MODEL, guard="inference"),
    Route("GET", "/v2/models/{name}/versions/{version}/ready", endpoints.model_ready,
          "Model version readiness", endpoints.Ready, errors=MODEL, guard="inference"),
    Route("POST", "/v2/models/{name}/infer", endpoints.v2_infer,
          "Run inference (Open Inference Protocol V2)", v2.InferenceResponse,
          body=v2.InferenceRequest, errors=INFER, guard="inference"),
    Route("POST", "/v2/models/{name}/versions/{version}/infer", endpoints.v2_infer,
          "Run inference on one version (Open Inference Protocol V2)", v2.InferenceResponse,
          body=v2.InferenceRequest, errors=INFER, guard="inference"),
    Route("POST", "/v1/models/{name}:predict", endpoints.v1_predict, "Predict (KServe V1)",
          endpoints.PredictResponse, body=v1.PredictRequest, errors=INFER, guard="inference"),
    Route("GET", "/v1/models/{name}", endpoints.v1_ready, "Model readiness (KServe V1)",
          endpoints.Ready, errors=MODEL, guard="inference"),
    Route("POST", "/v2/repository/index", endpoints.repository_index,
          "Every model version and its state", list[admin.IndexEntry], errors=ADMIN,
          guard="admin"),
    Route("POST", "/v2/repository/models/{name}/load", endpoints.repository_action("load"),
          "Load (or reload) a model in the worker that receives this", admin.Loaded,
          errors=ADMIN, guard="admin"),
    Route("POST", "/v2/repository/models/{name}/unload", endpoints.repository_action("unload"),
          "Stop serving a model in the worker that receives this", admin.Unloaded,
          errors=ADMIN, guard="admin"),
    Route("POST", "/v2/repository/models/{name}/promote",
          endpoints.repository_action("promote"), "Move an alias to a version, in the registry",
          admin.Promoted, body=admin.PromoteRequest, body_required=False, errors=ADMIN,
          guard="admin"),
    Route("POST", "/v2/repository/models/{name}/route", endpoints.repository_action("route"),
          "Set or clear the weighted split, in the registry", admin.Routed,
          body=admin.RouteRequest, body_required=False, errors=ADMIN, guard="admin"),
    Route("GET", "/v2/models/{name}/monitor", endpoints.monitor,
          "Drift and live quality of the version served by default, over a window",
          MonitorReport, errors=(400, *MODEL), guard="inference", query=WINDOW),
    Route("GET", "/v2/models/{name}/versions/{version}/monitor", endpoints.monitor,
          "Drift and live quality of one version, over a window", MonitorReport,
          errors=(400, *MODEL), guard="inference", query=WINDOW),
    Route("POST", "/v2/models/{name}/feedback", endpoints.feedback,
          "Labels for earlier V2 requests (by their id): realized quality", FeedbackResult,
          body=FeedbackItem | list[FeedbackItem], errors=INFER, guard="inference"),
    Route("GET", "/v2/models/{name}/versions/{version}/report", endpoints.version_report,
          "The version's report: metrics, plots, importance, portability", Html,
          errors=MODEL, guard="inference"),
    Route("GET", "/", endpoints.dashboard_page, "The live dashboard (its data: /dashboard.json)",
          Html),
    Route("GET", "/static/{file}", endpoints.static_file, "The dashboard's script and styles",
          Asset, errors=(404,)),
    Route("GET", "/dashboard.json", endpoints.dashboard_snapshot,
          "What the dashboard shows: models, routes, cumulative metrics, drift",
          dashboard.Snapshot, errors=(400, *GUARDED), guard="inference", query=WINDOW),
    Route("GET", "/metrics", endpoints.metrics, "Prometheus metrics", str),
    Route("GET", "/openapi.json", endpoints.openapi_json, "This document", dict[str, Any]),
)
# fmt: on

ROUTER = Router(ROUTES)
