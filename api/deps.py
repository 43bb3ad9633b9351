"""Request dependencies: one session per request, the principal from the key, role guards."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.services import Services
from tenancy import audit, keys
from tenancy.errors import Unauthenticated
from tenancy.roles import Principal, Role
from tenancy.scope import Scope


def get_services(request: Request) -> Services:
    """The process's services, built by the lifespan."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """One transaction per request: committed before the response, rolled back on error."""
    with services.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def request_id(request: Request) -> str:
    """The id the middleware gave this request."""
    return str(getattr(request.state, "request_id", ""))


def get_principal(request: Request, session: SessionDep) -> Principal:
    """Authenticate the bearer key; failures are audited on the system chain."""
    key = _bearer(request.headers.get("authorization"))
    try:
        return keys.authenticate(session, key)
    except Unauthenticated:
        _audit_auth_failure(session, request)
        raise


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _audit_auth_failure(session: Session, request: Request) -> None:
    # Committed on its own: the request's transaction is about to be rolled back.
    session.rollback()
    entry = audit.Entry(action="auth.failed", outcome="denied", details={"path": request.url.path})
    audit.record(session, None, audit.Actor(None, request_id(request)), entry)
    session.commit()


PrincipalDep = Annotated[Principal, Depends(get_principal)]


@dataclass(frozen=True)
class Context:
    """The caller, its transaction and request id; `scope` exists only for tenant roles."""

    session: Session
    principal: Principal
    request_id: str

    @property
    def scope(self) -> Scope:
        """The caller's tenant scope."""
        return Scope(self.session, self.principal.tenant())

    def record(self, action: str, targets: list[str] | None = None, **details: Any) -> None:
        """Append an audit event to the caller's tenant chain (the system chain for operators)."""
        entry = audit.Entry(action=action, targets=targets or [], details=details)
        actor = audit.Actor(self.principal, self.request_id)
        audit.record(self.session, self.principal.tenant_id, actor, entry)


def require(*roles: Role) -> Callable[..., Context]:
    """A dependency that admits only `roles`."""

    def dependency(request: Request, session: SessionDep, principal: PrincipalDep) -> Context:
        principal.require(*roles)
        return Context(session, principal, request_id(request))

    return dependency


OperatorCtx = Annotated[Context, Depends(require(Role.OPERATOR))]
AdminCtx = Annotated[Context, Depends(require(Role.ADMIN))]
ReaderCtx = Annotated[Context, Depends(require(Role.ADMIN, Role.READER))]
