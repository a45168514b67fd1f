"""The route table in-process (httpx over ASGI, no server process): dispatch, 404, 405 and
/openapi.json all come from it and agree with each other."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tabforge.errors import MethodNotAllowed, NotFoundError
from tabforge.serve import App, ServeSettings, create_app
from tabforge.serve.http import Message, Request, Response, json_response
from tabforge.serve.openapi import openapi
from tabforge.serve.routes import ROUTES
from tabforge.serve.routing import Route, Router

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]
SAMPLE = {"name": "mixed", "version": "1", "file": "dashboard.js"}


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    """Run the app's ASGI lifespan as a server would: start-up before, shutdown after."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task


def serve(registry: Path, scenario: Scenario, **settings: Any) -> None:
    """Run ``scenario`` against a started app over ``registry``, once its models are loaded."""

    async def main() -> None:
        app = create_app(ServeSettings(registry=str(registry), watch=False, **settings))
        async with lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tabforge") as http:
                for _ in range(600):
                    if (await http.get("/v2/health/ready")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                await scenario(http)

    asyncio.run(main())


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)


def test_every_route_is_documented_and_nothing_else() -> None:
    paths = openapi()["paths"]
    table = {(r.path, r.method.lower()) for r in ROUTES}
    documented = {(path, method) for path, methods in paths.items() for method in methods}
    assert table == documented


def test_every_documented_path_routes(trained_registry: Path) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        served = (await http.get("/openapi.json")).json()
        assert served == openapi()
        for path, methods in served["paths"].items():
            for method in methods:
                r = await http.request(method.upper(), concrete(path))
                assert r.status_code not in (404, 405), (method, path, r.text)
                # The admin API is off without a token: 403, which still proves the route.
                assert r.status_code in (200, 400, 403), (method, path, r.text)

    serve(trained_registry, scenario)


def test_wrong_method_is_405_with_allow_and_unknown_path_404(trained_registry: Path) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        r = await http.get("/v2/models/mixed/infer")
        assert (r.status_code, r.headers["allow"]) == (405, "POST")
        assert r.json() == {"error": "method GET not allowed here; use POST"}
        r = await http.delete("/v2/health/live")
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")
        assert (await http.head("/v2/health/live")).status_code == 200
        r = await http.get("/v3/whatever")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/json"
        assert r.json() == {"error": "no such endpoint: /v3/whatever"}
        assert (await http.post("/v1/models/mixed:explain")).status_code == 404
        # A trailing slash was never significant.
        assert (await http.get("/v2/health/live/")).json() == {"live": True}
        assert (await http.get("/v2/models/nope")).json() == {"error": "unknown model 'nope'"}

    serve(trained_registry, scenario)


def test_credentials_are_checked_before_the_method(trained_registry: Path) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        r = await http.get("/v2/models/mixed/infer")
        assert (r.status_code, r.headers["www-authenticate"]) == (401, "Bearer")
        assert "error" in r.json()
        keyed = await http.get("/v2/models/mixed/infer", headers={"X-API-Key": "key-one"})
        assert keyed.status_code == 405
        assert (await http.get("/v2/health/live")).status_code == 200

    serve(trained_registry, scenario, api_keys=("key-one",))


async def _echo(service: Any, request: Request) -> Response:
    return json_response(request.params)


def test_router_matches_parameters_and_refuses_with_allow() -> None:
    router = Router([
        Route("GET", "/things/{name}", _echo, "get", dict[str, str]),
        Route("POST", "/things/{name}", _echo, "post", dict[str, str]),
        Route("POST", "/things/{name}:run", _echo, "run", dict[str, str]),
    ])  # fmt: skip
    route, params, allowed = router.match("POST", "/things/a:run/")
    assert (route.summary, params, allowed) == ("run", {"name": "a"}, True)
    assert router.match("HEAD", "/things/a")[0].summary == "get"
    route, _, allowed = router.match("PUT", "/things/a")
    assert not allowed
    refusal = router.refuse("PUT", route)
    assert isinstance(refusal, MethodNotAllowed)
    assert dict(refusal.http_headers)[b"allow"] == b"GET, HEAD, POST"
    for path in ("/things/a:walk", "/things", "/things/a/b", "/"):
        with pytest.raises(NotFoundError, match="no such endpoint"):
            router.match("GET", path)


def test_monitor_and_feedback_need_an_api_key(trained_registry: Path) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        for method, path in (("GET", "/v2/models/mixed/monitor"),
                             ("GET", "/v2/models/mixed/versions/1/monitor?window=5m"),
                             ("POST", "/v2/models/mixed/feedback")):  # fmt: skip
            assert (await http.request(method, path)).status_code == 401
            wrong = await http.request(method, path, headers={"X-API-Key": "nope"})
            assert wrong.status_code == 403
        keyed = {"Authorization": "Bearer key-one"}
        assert (await http.get("/v2/models/mixed/monitor", headers=keyed)).status_code == 200
        r = await http.post("/v2/models/mixed/feedback", json={"id": "x", "label": "low"},
                            headers=keyed)  # fmt: skip
        assert r.json() == {"joined": 0, "unknown": 1}

    serve(trained_registry, scenario, api_keys=("key-one",))


def test_an_app_alone_is_the_whole_server(trained_registry: Path) -> None:
    """create_app() without a shared directory: a private one, and it is the only worker."""
    body = {"id": "one", "inputs": [
        {"name": "numeric", "shape": [2, 3], "datatype": "FP32", "data": [1, 50, 2, 0, 10, 1]},
        {"name": "categorical", "shape": [2, 2], "datatype": "BYTES",
         "data": ["red", "sq", "blue", "hex"]},
    ]}  # fmt: skip

    async def scenario(http: httpx.AsyncClient) -> None:
        assert (await http.get("/v2/models/mixed/ready")).json() == {"name": "mixed", "ready": True}
        answer = (await http.post("/v2/models/mixed/versions/1/infer", json=body)).json()
        labels = next(o for o in answer["outputs"] if o["name"] == "label")["data"]
        feedback = {"id": "one", "label": [labels[0], "low" if labels[1] != "low" else "high"]}
        r = await http.post("/v2/models/mixed/feedback", json=feedback)
        assert r.json() == {"joined": 1, "unknown": 0}
        report = (await http.get("/v2/models/mixed/versions/1/monitor?window=5m")).json()
        assert report["rows"] == 2
        assert (report["live"]["labels"], report["live"]["accuracy"]) == (2, 0.5)
        metrics = (await http.get("/metrics")).text
        assert (
            'tabforge_live_quality{metric="accuracy",model="mixed",version="1",window="5m"} 0.5'
            in metrics
        )

    serve(trained_registry, scenario)


def test_the_window_query_parameter_is_documented() -> None:
    operation = openapi()["paths"]["/v2/models/{name}/monitor"]["get"]
    (window,) = [p for p in operation["parameters"] if p["in"] == "query"]
    assert window == {"name": "window", "in": "query", "required": False,
                      "schema": {"type": "string", "enum": ["5m", "1h", "24h"], "default": "1h"}}  # fmt: skip


def test_answers_from_the_cache_are_monitored_too(trained_registry: Path) -> None:
    body = {"inputs": [
        {"name": "numeric", "shape": [1, 3], "datatype": "FP32", "data": [1, 50, 2]},
        {"name": "categorical", "shape": [1, 2], "datatype": "BYTES", "data": ["red", "sq"]},
    ]}  # fmt: skip

    async def scenario(http: httpx.AsyncClient) -> None:
        for _ in range(3):
            assert (await http.post("/v2/models/mixed/versions/2/infer", json=body)).is_success
        assert 'result="hit"' in (await http.get("/metrics")).text
        report = (await http.get("/v2/models/mixed/versions/2/monitor?window=5m")).json()
        assert report["rows"] == 3  # one run, two answers from the cache

    serve(trained_registry, scenario, cache_entries=8)


def test_pages_are_documented_with_their_media_types() -> None:
    paths = openapi()["paths"]

    def media(path: str) -> list[str]:
        return list(paths[path]["get"]["responses"]["200"]["content"])

    assert media("/") == ["text/html"]
    assert media("/v2/models/{name}/versions/{version}/report") == ["text/html"]
    assert media("/static/{file}") == ["text/javascript", "text/css"]
    assert media("/dashboard.json") == ["application/json"]
    assert media("/metrics") == ["text/plain"]
    snapshot = paths["/dashboard.json"]["get"]
    assert {"400", "401", "403"} <= set(snapshot["responses"])
    assert [p["name"] for p in snapshot["parameters"]] == ["window"]


def test_the_dashboard_counts_what_the_app_served_but_not_itself(trained_registry: Path) -> None:
    async def scenario(http: httpx.AsyncClient) -> None:
        before = (await http.get("/dashboard.json")).json()["server"]  # readiness polls so far
        assert (await http.get("/v2/models/mixed/versions/1/ready")).status_code == 200
        assert (await http.get("/v2/models/nope")).status_code == 404
        for _ in range(3):
            snapshot = (await http.get("/dashboard.json")).json()
        server = snapshot["server"]
        grown = {k: v - before["requests"].get(k, 0) for k, v in server["requests"].items()}
        assert {k: v for k, v in grown.items() if v} == {"200": 1, "404": 1}
        assert server["latency"]["counts"][-1] == before["latency"]["counts"][-1] + 2
        (mixed,) = snapshot["models"]
        assert [v["version"] for v in mixed["versions"]] == [1, 2]
        assert mixed["versions"][0]["requests"] == {"200": 1}
        assert (await http.get("/")).headers["content-type"] == "text/html; charset=utf-8"

    serve(trained_registry, scenario)
