"""Request dependencies: the session, the principal from the key, role guards.

The transactions they open and close are described once, in `api.transaction`.
"""

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from api import errors, identity, transaction
from api.identity import request_id, route_name, services_of
from api.services import Services
from api.transaction import Context
from tenancy.roles import Principal, Role


async def get_services(request: Request) -> Services:
    """The process's services, as a dependency."""
    # async: FastAPI runs a plain `def` dependency on a worker thread, a hop that an
    # attribute read does not need (the same for `require`'s checks below).
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(request: Request, services: ServicesDep) -> Iterator[Session]:
    """The request's session: committed before the response, rolled back on error; a failed
    request by an authenticated caller is still audited."""

    def failed(exc: Exception) -> None:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            return  # unauthenticated: audited where authentication failed
        ctx = Context(session, principal, request_id(request), route_name(request))
        targets = [str(v) for v in request.path_params.values()]
        transaction.audit_failure(ctx, errors.outcome(exc), targets)

    with services.sessions() as session, transaction.committed(session, failed):
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_principal(request: Request, session: SessionDep, services: ServicesDep) -> Principal:
    """Authenticate the bearer key, then charge its rate limits; failures are audited."""
    return identity.principal(request, session, services)


PrincipalDep = Annotated[Principal, Depends(get_principal)]

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)


def authenticates(*roles: Role) -> Callable[[F], F]:
    """Mark a route that authenticates in its own body (`api.calling`) instead of through
    `get_principal`: its OpenAPI operation still says it needs a key, and which roles."""

    def mark(route: F) -> F:
        route.__dict__["roles"] = roles
        return route

    return mark


# The models of bodies that routes parse themselves, for the OpenAPI document's components.
BODY_MODELS: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that parses `model` itself (`parse_json`)."""
    BODY_MODELS[model.__name__] = model
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def parse_json(model: type[M], raw: bytes) -> M:
    """`model` from a JSON body, or the 422 FastAPI would give for it."""
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def require(*roles: Role) -> Callable[..., Awaitable[Context]]:
    """A dependency that admits only `roles`."""

    async def dependency(request: Request, session: SessionDep, principal: PrincipalDep) -> Context:
        principal.require(*roles)
        built = services_of(request)
        return Context(
            session, principal, request_id(request), route_name(request), built.anchorer.noted
        )

    dependency.__dict__["roles"] = roles  # what the OpenAPI document says of the route
    return dependency


def index_writes(
    session: SessionDep, services: ServicesDep, _caller: PrincipalDep
) -> Iterator[None]:
    """For routes that write to the index: the commit inside the write gate (the caller is
    authenticated first). Refused on a full disk: an index write there can kill the process."""
    services.disk.check_floor()
    with transaction.index_writes(session, services.gate):
        yield


# Erasures use it: `dependencies=[IndexWrites]`.
IndexWrites = Depends(index_writes, scope="function")

OperatorCtx = Annotated[Context, Depends(require(Role.OPERATOR))]
AdminCtx = Annotated[Context, Depends(require(Role.ADMIN))]
ReaderCtx = Annotated[Context, Depends(require(Role.ADMIN, Role.READER))]
