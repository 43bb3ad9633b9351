"""Set-up, run and clean-up of `enclave probe` against a live deployment."""

import secrets
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.table import Table

from api.probe import access_cases, probe
from api.probe import cases as probe_cases
from api.probe.probe import Outcome, Side


@dataclass(frozen=True)
class Credentials:
    """Either the operator key, or one admin key of each of two tenants."""

    operator: str | None = None
    tenant_a: str | None = None
    tenant_b: str | None = None


def run(url: str, credentials: Credentials, console: Console) -> int:
    """Plant, attack, report, clean up; returns the exit code (1 on any leak or failure)."""
    transport = probe.PatientTransport()
    with httpx.Client(base_url=url.rstrip("/"), timeout=120, transport=transport) as http:
        a, b = _sides(http, credentials)
        try:
            for side in (a, b):
                probe.plant(http, side)
            revoked = _revoked_key(http, a)
            probes = list(
                probe_cases.all_probes(http, a, b, operator=credentials.operator, revoked=revoked)
            )
            if credentials.operator:  # the tenant's id names the audience of act-as assertions
                probes += access_cases.probes(http, access_cases.plant(http, a))
            outcomes = probe.run_all(http, probes)
        finally:
            _clean_up(http, credentials, a, b)
    return report(outcomes, console)


def _sides(http: httpx.Client, credentials: Credentials) -> tuple[Side, Side]:
    if credentials.operator:
        run_id = secrets.token_hex(4)
        return (
            _new_tenant(http, credentials.operator, f"enclave-probe-{run_id}-a"),
            _new_tenant(http, credentials.operator, f"enclave-probe-{run_id}-b"),
        )
    if not (credentials.tenant_a and credentials.tenant_b):
        raise ValueError("give --operator-key, or both --tenant-a-key and --tenant-b-key")
    return _existing(http, credentials.tenant_a, "tenant A"), _existing(
        http, credentials.tenant_b, "tenant B"
    )


def _new_tenant(http: httpx.Client, operator: str, name: str) -> Side:
    auth = {"Authorization": f"Bearer {operator}"}
    tenant = probe.expect_ok(http.post("/v1/tenants", json={"name": name}, headers=auth))
    keys = f"/v1/tenants/{tenant['id']}/keys"
    admin = probe.expect_ok(http.post(keys, json={"role": "admin", "name": "probe"}, headers=auth))[
        "key"
    ]
    reader = probe.expect_ok(
        http.post(keys, json={"role": "reader", "name": "probe"}, headers=auth)
    )["key"]
    return Side(name=name, admin=admin, reader=reader, tenant_id=tenant["id"])


def _existing(http: httpx.Client, admin: str, name: str) -> Side:
    auth = {"Authorization": f"Bearer {admin}"}
    issued = probe.expect_ok(
        http.post("/v1/keys", json={"role": "reader", "name": "probe reader"}, headers=auth)
    )
    side = Side(name=name, admin=admin, reader=issued["key"])
    side.ids["reader_key"] = issued["id"]
    return side


def _revoked_key(http: httpx.Client, side: Side) -> str:
    auth = {"Authorization": f"Bearer {side.admin}"}
    issued = probe.expect_ok(
        http.post("/v1/keys", json={"role": "reader", "name": "revoked"}, headers=auth)
    )
    probe.expect_ok(http.delete(f"/v1/keys/{issued['id']}", headers=auth))
    return str(issued["key"])


def _clean_up(http: httpx.Client, credentials: Credentials, a: Side, b: Side) -> None:
    if credentials.operator:
        for side in (a, b):
            http.delete(
                f"/v1/tenants/{side.tenant_id}",
                headers={"Authorization": f"Bearer {credentials.operator}"},
            )
        return
    for side in (a, b):
        auth = {"Authorization": f"Bearer {side.admin}"}
        if "document" in side.ids:
            http.delete(f"/v1/documents/{side.ids['document']}", headers=auth)
        for key_id in (side.ids.get("key"), side.ids.get("reader_key")):
            if key_id:
                http.delete(f"/v1/keys/{key_id}", headers=auth)


def report(outcomes: list[Outcome], console: Console) -> int:
    """The table and the summary line; 1 if anything leaked or failed."""
    table = Table("probe", "expected", "got", "verdict")
    for o in outcomes:
        style = {"pass": "green", "LEAK": "bold red", "FAIL": "yellow"}[o.verdict]
        table.add_row(o.probe, o.expected, o.got, f"[{style}]{o.verdict}[/{style}]")
    console.print(table)
    within = [o for o in outcomes if o.probe.startswith("within:")]
    across = [o for o in outcomes if not o.probe.startswith("within:")]
    for label, group in (("across tenants", across), ("within a tenant", within)):
        if group:
            leaks = sum(o.verdict == "LEAK" for o in group)
            fails = sum(o.verdict == "FAIL" for o in group)
            console.print(
                f"{label}: {len(group)} probes, {leaks} leaks, {fails} unexpected answers"
            )
    leaks = sum(o.verdict == "LEAK" for o in outcomes)
    failures = sum(o.verdict == "FAIL" for o in outcomes)
    console.print(f"{len(outcomes)} probes, {leaks} leaks, {failures} unexpected answers")
    return 1 if leaks or failures else 0
