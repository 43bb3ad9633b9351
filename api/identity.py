"""Who is calling: the services, the request id and the principal of an HTTP request.

Shared by the HTTP dependencies and the MCP endpoint (an MCP call is an HTTP request too).
"""

from sqlalchemy.orm import Session
from starlette.requests import Request

from api import transaction
from api.services import Services
from tenancy.roles import Principal

# A delegate key's request names the end user it serves (`tenancy.act_as`).
ACT_AS = "enclave-act-as"


def services_of(request: Request) -> Services:
    """The process's services, built by the lifespan."""
    services: Services = request.app.state.services
    return services


def request_id(request: Request) -> str:
    """The id the middleware gave this request."""
    return str(getattr(request.state, "request_id", ""))


def route_name(request: Request) -> str:
    """The matched route's name, which is also its audit action."""
    route = request.scope.get("route")
    return str(getattr(route, "name", "unknown"))


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def principal(
    request: Request, session: Session, services: Services, *, reads_next: bool = False
) -> Principal:
    """Authenticate the bearer key (and a delegate key's `Enclave-Act-As` assertion), then
    charge its rate limits; failures are audited. With `reads_next`, the check's read-only
    transaction stays open for the route's read phase (`transaction.charge`).

    The principal is kept on the request first, so that a refused call (429 included) of a
    known caller is audited as that caller's."""
    key = bearer(request.headers.get("authorization"))
    where = {"path": request.url.path, "route": route_name(request)}
    admitted = transaction.authenticate(session, key, request_id=request_id(request), where=where)
    found = admitted.principal
    assertion = request.headers.get(ACT_AS)
    if assertion is not None:
        found = transaction.act_as(
            session, found, assertion, request_id=request_id(request), where=where
        )
    request.state.principal = found
    transaction.charge(session, services, found, admitted.tenant_rate, reads_next=reads_next)
    return found
