"""The OpenAPI document, made true: the bearer scheme on every authenticated operation, the
real error body and its codes on every status an operation can answer, stable operation ids.

FastAPI knows only the success answers and its own validation body; everything else the
server does (the error handlers, the body limit, the role guards) is described here, from
the same tables the handlers answer with (`api.errors`).
"""

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel

from api import errors
from api.http import deps
from enclave_client.models import ErrorOut
from tenancy.roles import Role

BEARER = "bearerAuth"
ACT_AS = "actAs"
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An Enclave key: operator, tenant admin or reader. The key decides "
        "the tenant; requests never name it.",
    },
    ACT_AS: {
        "type": "apiKey",
        "in": "header",
        "name": "Enclave-Act-As",
        "description": "With a delegate reader key only: a short-lived JWT naming the end user "
        "served (`sub`, `groups`, `exp`, `aud` = tenant id), signed by a key of the JWKS the "
        "tenant registered (PUT /v1/act-as/jwks).",
    },
}

# Codes the handlers and middleware answer with besides the domain table.
_HANDLER_CODES: dict[int, tuple[str, ...]] = {
    401: ("unauthenticated",),
    408: ("request_timeout",),
    404: ("not_found",),
    413: ("payload_too_large",),
    422: ("invalid_request",),
    503: ("storage_unavailable",),
    507: ("insufficient_storage",),
}
_MEANING = {
    401: "No key, an unknown, revoked or expired key, or a bad `Enclave-Act-As` assertion.",
    403: "The key's role may not do this.",
    408: "The request body stopped arriving.",
    404: "Absent, another tenant's, or not readable by the caller: the same answer for each.",
    409: "Conflicts with the current state.",
    413: "Too large: a file, the request body or a quota.",
    415: "Not a supported document type (detected from the content, not the name).",
    422: "Invalid input.",
    429: "Slow down: retry after `Retry-After` seconds.",
    503: "A dependency (database, index) is unavailable: retry after `Retry-After` seconds.",
    507: "The server's disk is below its reserve: nothing was written.",
}
_HEADERS = {
    401: {"WWW-Authenticate": "Bearer"},
    429: {"Retry-After": "Seconds to wait before retrying."},
    503: {"Retry-After": "Seconds to wait before retrying."},
}
# The code an example shows for each status: the one most calls of that status carry.
_TYPICAL = {
    409: "conflict",
    413: "payload_too_large",
    422: "invalid_request",
    429: "rate_limited",
    503: "storage_unavailable",
}
# What an operation can answer beyond what its shape implies (see `_statuses`).
_EXTRA: dict[str, tuple[int, ...]] = {
    "tenant.create": (409,),
    "document.upload": (413, 415),
    "source.sync.start": (409,),
    "source.sync.upload": (409, 413, 415),
    "source.sync.commit": (409,),
    "admin.backup": (409,),
    "operator.key.revoke": (409,),
}


def operation_id(route: APIRoute) -> str:
    """A stable, human operation id: the route's name (`document.upload` -> document_upload)."""
    return route.name.replace(".", "_")


def install(app: FastAPI) -> None:
    """Replace the app's schema builder with this one (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    """The document: FastAPI's, with security, errors and components completed."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    schemas = components.setdefault("schemas", {})
    models: list[type[BaseModel]] = [ErrorOut, *deps.BODY_MODELS.values()]
    for model in models:
        schemas.update(_model_schemas(model))
    for route in _api_routes(app):
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            _complete(operation, route)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _mark_binary(schemas)
    return schema


def _mark_binary(node: Any) -> None:
    """Say `format: binary` beside 3.1's `contentMediaType` on file parts: generators that
    read 3.0 (openapi-python-client among them) take a file part for text otherwise."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "contentMediaType" in node:
            node["format"] = "binary"
        for value in node.values():
            _mark_binary(value)
    elif isinstance(node, list):
        for value in node:
            _mark_binary(value)


def _api_routes(app: FastAPI) -> Iterator[RouteContext]:
    """Every documented operation, with its path as mounted (routers included)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def _complete(operation: dict[str, Any], route: RouteContext) -> None:
    if operation.get("description"):  # the docstring, not the route's name
        operation["summary"] = summary(operation["description"])
    roles = _roles(route)
    authenticated = roles is not None
    if roles is not None:
        operation["security"] = [{BEARER: []}]
        if Role.READER in roles:  # a delegate reader key names its end user
            operation["security"].append({BEARER: [], ACT_AS: []})
    responses = operation.setdefault("responses", {})
    for status in sorted(_statuses(route, authenticated=authenticated)):
        responses[str(status)] = _error_response(status)


def summary(description: str) -> str:
    """A docstring's first clause: its first paragraph up to the first `;` or `. `."""
    paragraph = " ".join(description.split("\n\n", 1)[0].split())
    for stop in ("; ", ". "):
        paragraph = paragraph.split(stop, 1)[0]
    return paragraph.rstrip(".")


def _statuses(route: RouteContext, *, authenticated: bool) -> set[int]:
    dependant: Dependant = route.dependant
    body = bool(dependant.body_params) or "requestBody" in (route.openapi_extra or {})
    has_input = bool(dependant.path_params or dependant.query_params or body) or _header_input(
        dependant
    )
    statuses = set(_EXTRA.get(route.name or "", ()))
    if has_input:
        statuses.add(422)
    if body:
        statuses.update((408, 413))  # a body that stops arriving; the body limit
    if dependant.path_params:
        statuses.add(404)
    if authenticated:
        statuses.update((401, 403, 429, 507))  # every authenticated call is audited
    if (route.path_format or "").startswith("/v1/"):
        statuses.add(503)
    return statuses


def _roles(route: RouteContext) -> tuple[Role, ...] | None:
    """The roles an operation admits; None for one that needs no key."""
    marked = getattr(route.endpoint, "roles", None)
    if marked is not None:
        return tuple(marked)
    found = _marked_roles(route.dependant)
    if found is None and _calls(route.dependant, deps.get_principal):
        return tuple(Role)
    return found


def _marked_roles(dependant: Dependant) -> tuple[Role, ...] | None:
    roles = getattr(dependant.call, "roles", None)
    if roles is not None:
        return tuple(roles)
    for sub in dependant.dependencies:
        found = _marked_roles(sub)
        if found is not None:
            return found
    return None


def _header_input(dependant: Dependant) -> bool:
    return bool(dependant.header_params) or any(_header_input(d) for d in dependant.dependencies)


def _calls(dependant: Dependant, target: object) -> bool:
    return dependant.call is target or any(_calls(d, target) for d in dependant.dependencies)


def codes_by_status() -> dict[int, tuple[str, ...]]:
    """Every error code the API answers with, by HTTP status."""
    found: dict[int, list[str]] = {}
    for status, code in [*errors.STATUS.values()]:
        found.setdefault(status, []).append(code)
    for status, codes in _HANDLER_CODES.items():
        found.setdefault(status, []).extend(codes)
    return {status: tuple(sorted(set(codes))) for status, codes in found.items()}


def _error_response(status: int) -> dict[str, Any]:
    codes = codes_by_status().get(status, ())
    listed = ", ".join(f"`{code}`" for code in codes)
    example = _TYPICAL.get(status, codes[0])
    response: dict[str, Any] = {
        "description": f"{_MEANING[status]} Codes this status carries in the API: {listed}.",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorOut"},
                "example": {"error": {"code": example, "message": _MEANING[status]}},
            }
        },
    }
    if status in _HEADERS:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in _HEADERS[status].items()
        }
    return response


def _model_schemas(model: type[BaseModel]) -> dict[str, Any]:
    """A model's schema and those it refers to, as components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {model.__name__: schema, **definitions}
