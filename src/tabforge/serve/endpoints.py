"""Handlers: one per route, each turning a parsed request into a call on the model service.

A handler reads path parameters, headers and the body from the ``Request``, decodes with
v1.py / v2.py, asks the ``ModelService`` and encodes the answer. Routing, credentials and
turning errors into responses happen before and after it, in app.py.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import msgspec
import numpy as np

from tabforge import __version__
from tabforge.contract import v1, v2
from tabforge.contract.binary import binary_inputs, split_body
from tabforge.errors import DataError, NotReady
from tabforge.runtime.predictor import Predictor
from tabforge.serve import admin, dashboard, pages
from tabforge.serve.http import (
    BINARY,
    BINARY_HEADER,
    BINARY_TYPES,
    JSON,
    JSON_TYPES,
    PROMETHEUS,
    ROUTING_HEADER,
    Request,
    Response,
    json_response,
)
from tabforge.serve.monitoring import DEFAULT_WINDOW
from tabforge.serve.repository import ServedModel
from tabforge.serve.routing import Handler
from tabforge.serve.service import ModelService
from tabforge.serve.slots import WINDOWS


class ServerMetadata(msgspec.Struct):
    name: str
    version: str
    extensions: list[str]


class Ready(msgspec.Struct):
    name: str
    ready: bool


class PredictResponse(msgspec.Struct):
    predictions: list[dict[str, Any]]


SERVER = ServerMetadata("tabforge", __version__, ["binary_tensor_data"])


async def server_metadata(service: ModelService, request: Request) -> Response:
    return json_response(SERVER)


async def live(service: ModelService, request: Request) -> Response:
    return json_response({"live": True})


async def ready(service: ModelService, request: Request) -> Response:
    """Ready when every worker of the server is (each says so in the shared directory)."""
    if not service.repo.ready:
        raise NotReady("models are still loading")
    waiting = service.state.waiting_for()
    if waiting is not None:
        raise NotReady(waiting)
    return json_response({"ready": True})


def _model_ready(service: ModelService, name: str, version: int) -> Response:
    waiting = service.state.model_waiting_for(name, version)
    if waiting is not None:
        raise NotReady(waiting)
    return json_response(Ready(name, True))


async def metrics(service: ModelService, request: Request) -> Response:
    # Off the event loop: drift is computed from every worker's counts on each scrape.
    return Response(200, await asyncio.to_thread(service.render_metrics), PROMETHEUS)


async def model_metadata(service: ModelService, request: Request) -> Response:
    name = request.model = request.params["name"]
    number, predictor = service.repo.get(name, request.params.get("version"))
    request.version = str(number)
    versions = sorted(service.repo.models[name].versions)
    return json_response(v2.metadata(name, versions, predictor.manifest))


async def model_ready(service: ModelService, request: Request) -> Response:
    name = request.model = request.params["name"]
    number, _ = service.repo.get(name, request.params.get("version"))
    request.version = str(number)
    return _model_ready(service, name, number)


class V2Job(NamedTuple):
    """A decoded V2 inference request, ready to run."""

    served: ServedModel
    pinned: bool  # the path named the version: no shadow
    decoded: v2.InferenceRequest
    number: int
    predictor: Predictor
    feed: dict[str, np.ndarray]


def v2_target(service: ModelService, request: Request) -> ServedModel:
    """What a V2 inference request is for, checked before its body is read."""
    name = request.model = request.params["name"]
    version = request.params.get("version")
    served = service.repo.served(name)  # unknown model: 404 before reading the body
    if version is not None:
        request.version = str(served.choose(version)[0])
    header_length = request.header(BINARY_HEADER)
    request.require_content_type(BINARY_TYPES if header_length else JSON_TYPES)
    return served


def v2_job(service: ModelService, request: Request, served: ServedModel, body: bytes) -> V2Job:
    """Decode and validate the body: the version that answers and its input tensors."""
    header_length = request.header(BINARY_HEADER)
    binary = None
    if header_length:
        head, blob = split_body(body, header_length)
        decoded = v2.decode_request(head)
        binary = binary_inputs(decoded, blob)
    else:
        decoded = v2.decode_request(body)
    version = request.params.get("version")
    key = request.header(ROUTING_HEADER) or (decoded.parameters or {}).get("routing_key")
    number, predictor = served.choose(version, None if key is None else str(key))
    request.version = str(number)
    max_rows = service.settings.max_rows
    feed = v2.assemble(decoded, predictor.manifest.inputs, max_rows=max_rows, binary=binary)
    return V2Job(served, version is not None, decoded, number, predictor, feed)


def v2_answer(
    service: ModelService, request: Request, job: V2Job, outputs: dict[str, np.ndarray]
) -> Response:
    """The response to a V2 request that ran (and what follows it: feedback, shadow)."""
    name, manifest = job.served.name, job.predictor.manifest
    service.remember(name, job.number, job.decoded.id, outputs, manifest)
    if not job.pinned:
        request.after = service.shadow_for(job.served, job.feed, outputs)
    encoded, json_length = v2.response(job.decoded, name, job.number, outputs, manifest)
    if json_length is None:
        return Response(200, encoded, JSON)
    return Response(200, encoded, (*BINARY, (BINARY_HEADER, str(json_length).encode())))


async def v2_infer(service: ModelService, request: Request) -> Response:
    """The handler; serve/fastlane.py runs the same three steps without a task."""
    served = v2_target(service, request)
    job = v2_job(service, request, served, await request.body())
    outputs = await service.infer(served.name, job.number, job.predictor, job.feed)
    return v2_answer(service, request, job, outputs)


async def v1_ready(service: ModelService, request: Request) -> Response:
    name = request.model = request.params["name"]
    number, _ = service.repo.get(name, None)
    request.version = str(number)
    return _model_ready(service, name, number)


async def v1_predict(service: ModelService, request: Request) -> Response:
    name = request.model = request.params["name"]
    served = service.repo.served(name)
    number, predictor = served.choose(None, request.header(ROUTING_HEADER) or None)
    request.version = str(number)
    version_header = (b"x-model-version", str(number).encode())
    request.require_content_type(JSON_TYPES)
    body = await request.body()
    feed = v1.assemble(body, predictor.manifest.inputs, max_rows=service.settings.max_rows)
    outputs = await service.infer(name, number, predictor, feed)
    request.after = service.shadow_for(served, feed, outputs)
    predictions = v1.predictions(outputs, predictor.manifest)
    return json_response(PredictResponse(predictions), version_header)


def _window(request: Request) -> str:
    window = request.query("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        raise DataError(f"window {window!r} is not one of {', '.join(WINDOWS)}")
    return window


async def monitor(service: ModelService, request: Request) -> Response:
    name = request.model = request.params["name"]
    service.monitored(name)  # an unknown model, or monitoring off: 404 before the window
    window = _window(request)
    report = await service.monitor_report(name, request.params.get("version"), window)
    request.version = report.version
    return json_response(report)


async def feedback(service: ModelService, request: Request) -> Response:
    name = request.model = request.params["name"]
    service.monitored(name)  # 404 before reading the body
    request.require_content_type(JSON_TYPES)
    body = await request.body()
    return json_response(await service.join_feedback(name, body))


async def repository_index(service: ModelService, request: Request) -> Response:
    await request.body()  # read (and bound) whatever was sent, as every admin call does
    return json_response(admin.index(service.repo))


def repository_action(verb: str) -> Handler:
    """The handler of POST /v2/repository/models/{name}/<verb>."""

    async def handle(service: ModelService, request: Request) -> Response:
        body = await request.body()
        if not service.repo.ready:
            raise NotReady("models are still loading")
        result = await service.admin_action(request.params["name"], verb, body)
        return json_response(result)

    handle.__name__ = handle.__qualname__ = f"repository_{verb}"
    return handle


async def dashboard_page(service: ModelService, request: Request) -> Response:
    keys = any(key.strip() for key in service.settings.api_keys)  # as Credentials reads them
    return pages.page(keys=keys, if_none_match=request.header(b"if-none-match"))


async def static_file(service: ModelService, request: Request) -> Response:
    return pages.static(request.params["file"], request.header(b"if-none-match"))


async def dashboard_snapshot(service: ModelService, request: Request) -> Response:
    # Off the event loop: it reads every worker's metric and monitoring files.
    snapshot = await asyncio.to_thread(dashboard.snapshot, service, _window(request))
    return json_response(snapshot)


async def version_report(service: ModelService, request: Request) -> Response:
    name = request.model = request.params["name"]
    number, predictor = service.repo.get(name, request.params["version"])
    request.version = str(number)
    aliases = service.aliases.pointing_at(name, number)
    return pages.html(await asyncio.to_thread(service.reports.render, predictor.manifest, aliases))


async def openapi_json(service: ModelService, request: Request) -> Response:
    # The document is generated from the route table, which names this handler: import late.
    from tabforge.serve.openapi import encoded

    return Response(200, encoded(), JSON)
