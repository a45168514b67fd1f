"""The OpenAPI 3 document served at /openapi.json (accurate enough for a schema fuzzer)."""

from __future__ import annotations

from typing import Any

from tabforge import __version__

ERROR = {"$ref": "#/components/responses/Error"}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}


# With TABFORGE_API_KEYS set, model endpoints answer 401 without a key and 403 with a wrong one.
GUARDED = ("401", "403")
# What an inference request can get besides 200 (408: its body did not arrive in time).
INFER_ERRORS = ("400", *GUARDED, "404", "408", "413", "415", "503")


def _get(summary: str, schema: str, params: list[Any], codes: tuple[str, ...]) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _json(schema)}}
    responses |= {code: ERROR for code in codes}
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


def _admin(summary: str, params: list[Any], body: str | None, result: str) -> dict[str, Any]:
    post: dict[str, Any] = {
        "summary": summary,
        "parameters": params,
        "security": [{"admin": []}],
        "responses": {
            "200": {"description": "Done", "content": _json(result)},
            **{code: ERROR for code in ("400", *GUARDED, "404", "413", "503", "507")},
        },
    }
    if body is not None:
        post["requestBody"] = {"required": False, "content": _json(body)}
    return {"post": post}


def _infer(params: list[Any]) -> dict[str, Any]:
    return {
        "post": {
            "summary": "Run inference (Open Inference Protocol V2)",
            "parameters": params,
            "requestBody": {"required": True, "content": _json("InferenceRequest")},
            "responses": {
                "200": {"description": "Predictions", "content": _json("InferenceResponse")},
                **{code: ERROR for code in INFER_ERRORS},
            },
        }
    }


def openapi() -> dict[str, Any]:
    tensor_data = {"type": "array", "items": {}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "tabforge inference server", "version": __version__},
        "paths": {
            "/v2/health/live": _get("Liveness", "Health", [], ()),
            "/v2/health/ready": _get("Readiness", "Health", [], ("503",)),
            "/v2": _get("Server metadata", "ServerMetadata", [], ()),
            "/v2/models/{name}": _get(
                "Model metadata", "ModelMetadata", [NAME], (*GUARDED, "404", "503")
            ),
            "/v2/models/{name}/versions/{version}": _get(
                "Model version metadata", "ModelMetadata", [NAME, VERSION], (*GUARDED, "404", "503")
            ),
            "/v2/models/{name}/ready": _get(
                "Model readiness", "Ready", [NAME], (*GUARDED, "404", "503")
            ),
            "/v2/models/{name}/versions/{version}/ready": _get(
                "Model version readiness", "Ready", [NAME, VERSION], (*GUARDED, "404", "503")
            ),
            "/v2/models/{name}/infer": _infer([NAME]),
            "/v2/models/{name}/versions/{version}/infer": _infer([NAME, VERSION]),
            "/v1/models/{name}:predict": {
                "post": {
                    "summary": "Predict (KServe V1)",
                    "parameters": [NAME],
                    "requestBody": {"required": True, "content": _json("PredictRequest")},
                    "responses": {
                        "200": {"description": "Predictions", "content": _json("PredictResponse")},
                        **{code: ERROR for code in INFER_ERRORS},
                    },
                }
            },
            "/v1/models/{name}": _get(
                "Model readiness (KServe V1)", "Ready", [NAME], (*GUARDED, "404", "503")
            ),
            "/v2/repository/index": _admin("Every model version and its state", [], None, "Index"),
            "/v2/repository/models/{name}/load": _admin(
                "Load (or reload) a model in the worker that receives this", [NAME], None, "Action"
            ),
            "/v2/repository/models/{name}/unload": _admin(
                "Stop serving a model in the worker that receives this", [NAME], None, "Action"
            ),
            "/v2/repository/models/{name}/promote": _admin(
                "Move an alias to a version, in the registry", [NAME], "Promote", "Action"
            ),
            "/v2/repository/models/{name}/route": _admin(
                "Set or clear the weighted split, in the registry", [NAME], "Route", "Action"
            ),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Metrics in Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "admin": {"type": "http", "scheme": "bearer"},
            },
            "responses": {"Error": {"description": "Error", "content": _json("Error")}},
            "schemas": {
                "Index": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "version", "state", "reason"],
                        "properties": {
                            "name": {"type": "string"},
                            "version": {"type": "string"},
                            "state": {
                                "type": "string",
                                "enum": ["READY", "UNAVAILABLE", "UNLOADED"],
                            },
                            "reason": {"type": "string"},
                        },
                    },
                },
                "Action": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}},
                },
                "Promote": {
                    "type": "object",
                    "required": ["version"],
                    "properties": {
                        "version": {"type": "integer"},
                        "alias": {"type": "string"},
                        "force": {"type": "boolean"},
                    },
                },
                "Route": {
                    "type": "object",
                    "properties": {
                        "weights": {
                            "type": "object",
                            "additionalProperties": {"type": "integer", "minimum": 0},
                        }
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Health": {"type": "object", "additionalProperties": {"type": "boolean"}},
                "Ready": {
                    "type": "object",
                    "required": ["name", "ready"],
                    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
                },
                "ServerMetadata": {
                    "type": "object",
                    "required": ["name", "version", "extensions"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "extensions": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "MetadataTensor": {
                    "type": "object",
                    "required": ["name", "datatype", "shape"],
                    "properties": {
                        "name": {"type": "string"},
                        "datatype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                    },
                },
                "ModelMetadata": {
                    "type": "object",
                    "required": ["name", "platform", "inputs", "outputs"],
                    "properties": {
                        "name": {"type": "string"},
                        "versions": {"type": "array", "items": {"type": "string"}},
                        "platform": {"type": "string"},
                        "inputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/MetadataTensor"},
                        },
                        "outputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/MetadataTensor"},
                        },
                        "parameters": {"type": "object"},
                    },
                },
                "RequestInput": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                        "datatype": {
                            "type": "string",
                            "enum": [
                                "BOOL",
                                "INT8",
                                "INT16",
                                "INT32",
                                "INT64",
                                "UINT8",
                                "UINT16",
                                "UINT32",
                                "UINT64",
                                "FP16",
                                "FP32",
                                "FP64",
                                "BYTES",
                            ],
                        },
                        "parameters": {"type": "object"},
                        "data": tensor_data,
                    },
                },
                "InferenceRequest": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "inputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/RequestInput"},
                        },
                        "outputs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "parameters": {"type": "object"},
                                },
                            },
                        },
                    },
                },
                "ResponseOutput": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string"},
                        "datatype": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "data": tensor_data,
                        "parameters": {"type": "object"},
                    },
                },
                "InferenceResponse": {
                    "type": "object",
                    "required": ["model_name", "model_version", "outputs"],
                    "properties": {
                        "model_name": {"type": "string"},
                        "model_version": {"type": "string"},
                        "id": {"type": "string"},
                        "parameters": {"type": "object"},
                        "outputs": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/ResponseOutput"},
                        },
                    },
                },
                "PredictRequest": {
                    "type": "object",
                    "required": ["instances"],
                    "properties": {"instances": {"type": "array", "items": {"type": "object"}}},
                },
                "PredictResponse": {
                    "type": "object",
                    "required": ["predictions"],
                    "properties": {"predictions": {"type": "array", "items": {"type": "object"}}},
                },
            },
        },
    }
