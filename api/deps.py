"""Request dependencies: one session per request, the principal from the key, role guards."""

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from api import errors
from api.services import Services
from tenancy import audit, keys, limits, sqlite, tenants
from tenancy.errors import Unauthenticated
from tenancy.limits import Rate
from tenancy.roles import Principal, Role
from tenancy.scope import Scope

security_log = logging.getLogger("enclave.security")


def services_of(request: Request) -> Services:
    """The process's services, built by the lifespan."""
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    """The process's services, as a dependency."""
    # async: FastAPI runs a plain `def` dependency on a worker thread, a hop that an
    # attribute read does not need (the same for `require`'s checks below).
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(request: Request, services: ServicesDep) -> Iterator[Session]:
    """One transaction per request: committed before the response, rolled back on error.

    A failed request by an authenticated caller is still audited, in its own transaction.
    """
    with services.sessions() as session:
        try:
            yield session
            session.commit()
        except Exception as exc:
            session.rollback()
            _audit_failure(session, request, exc)
            raise


def _audit_failure(session: Session, request: Request, exc: Exception) -> None:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return  # unauthenticated: audited where authentication failed
    _, code = errors.lookup(exc) if not isinstance(exc, HTTPException) else (0, "http_error")
    params = [str(v) for v in request.path_params.values()]
    entry = audit.Entry(action=route_name(request), targets=params, outcome=code)
    audit.record(session, principal.tenant_id, audit.Actor(principal, request_id(request)), entry)
    session.commit()


def route_name(request: Request) -> str:
    """The matched route's name, which is also its audit action."""
    route = request.scope.get("route")
    return str(getattr(route, "name", "unknown"))


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def request_id(request: Request) -> str:
    """The id the middleware gave this request."""
    return str(getattr(request.state, "request_id", ""))


def get_principal(request: Request, session: SessionDep, services: ServicesDep) -> Principal:
    """Authenticate the bearer key, then charge its rate limits; failures are audited."""
    key = _bearer(request.headers.get("authorization"))
    sqlite.read_only(session)  # the check only reads: it need not queue behind writers
    try:
        principal = keys.authenticate(session, key)
    except Unauthenticated:
        _audit_auth_failure(session, request)
        raise
    request.state.principal = principal
    limits.enforce(services.buckets, _rates(session, services, principal))
    # End the credential check's transaction now: the route's own work (which writes, at
    # least its audit event) starts a new one, after embedding and the index query.
    session.commit()
    return principal


def _rates(session: Session, services: Services, principal: Principal) -> dict[str, Rate]:
    rates = {f"key:{principal.key_id}": services.key_rate}
    if principal.tenant_id is not None:
        tenant_rate = tenants.rate(session, principal.tenant_id, services.tenant_rate)
        rates[f"tenant:{principal.tenant_id}"] = tenant_rate
    return rates


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _audit_auth_failure(session: Session, request: Request) -> None:
    # Committed on its own: the request's transaction is about to be rolled back.
    security_log.warning("security_event=auth_failed path=%s", request.url.path)
    session.rollback()
    details = {"path": request.url.path, "route": route_name(request)}
    entry = audit.Entry(action="auth.failed", outcome="unauthenticated", details=details)
    audit.record(session, None, audit.Actor(None, request_id(request)), entry)
    session.commit()


PrincipalDep = Annotated[Principal, Depends(get_principal)]


@dataclass(frozen=True)
class Context:
    """The caller, its transaction and request id; `scope` exists only for tenant roles."""

    session: Session
    principal: Principal
    request_id: str
    action: str

    @property
    def scope(self) -> Scope:
        """The caller's tenant scope."""
        return Scope(self.session, self.principal.tenant())

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Run the block in a transaction of its own that only reads, committed at its end.

        On SQLite it neither queues for nor holds the one writer lock, so a request's
        writes (its audit event at least) hold that lock only for themselves.
        """
        sqlite.read_only(self.session)
        yield
        self.session.commit()

    def record(self, targets: list[str] | None = None, **details: Any) -> None:
        """Audit this request's action on the caller's chain (the system chain for operators)."""
        entry = audit.Entry(action=self.action, targets=targets or [], details=details)
        actor = audit.Actor(self.principal, self.request_id)
        audit.record(self.session, self.principal.tenant_id, actor, entry)


def require(*roles: Role) -> Callable[..., Awaitable[Context]]:
    """A dependency that admits only `roles`."""

    async def dependency(request: Request, session: SessionDep, principal: PrincipalDep) -> Context:
        principal.require(*roles)
        return Context(session, principal, request_id(request), route_name(request))

    return dependency


def index_writes(
    session: SessionDep, services: ServicesDep, _caller: PrincipalDep
) -> Iterator[None]:
    """For routes that write to the index: hold the write gate through the commit, so that a
    backup sees all of the request or none of it (the caller is authenticated first)."""
    with services.gate.writing():
        yield
        session.commit()


# Erasures use it: `dependencies=[IndexWrites]`.
IndexWrites = Depends(index_writes, scope="function")

OperatorCtx = Annotated[Context, Depends(require(Role.OPERATOR))]
AdminCtx = Annotated[Context, Depends(require(Role.ADMIN))]
ReaderCtx = Annotated[Context, Depends(require(Role.ADMIN, Role.READER))]
