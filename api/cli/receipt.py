"""`enclave receipt verify` and `enclave signing-key rotate`: receipts checked offline, and the
signing key replaced while the old one stays published."""

import json
from pathlib import Path
from typing import Any

import httpx
import typer

from enclave_client.receipts import ReceiptError, verify

receipt_app = typer.Typer(help="Check search receipts offline.", no_args_is_help=True)
signing_app = typer.Typer(help="The key that signs receipts and audit checkpoints.")


@receipt_app.command("verify")
def verify_command(
    file: Path = typer.Argument(..., help="A receipt (JWS), or a search answer holding one."),
    jwks: str = typer.Option(..., "--jwks", help="The service's JWKS: a URL or a saved file."),
    text: list[str] = typer.Option(
        [], "--text", help="DOC_ID=PATH: the document's text, to check its cited spans."
    ),
) -> None:
    """Verify a receipt's signature and shape, and with texts every cited span; exit 0 when
    it holds, 1 (with the reason) when it does not, 2 when an input cannot be read."""
    try:
        receipt, keys, texts = _receipt(file), _jwks(jwks), _texts(text)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        payload = verify(receipt, keys, texts=texts)
    except ReceiptError as exc:
        typer.echo(f"receipt INVALID: {exc}")
        raise typer.Exit(1) from exc
    checked = sum(1 for hit in payload["hits"] if hit["document_id"] in texts)
    typer.echo(
        f"receipt OK: search {payload['search_id']}, {len(payload['hits'])} hits, "
        f"{checked} cited spans checked, audit seq {payload['audit']['seq']}"
    )


def _receipt(file: Path) -> str:
    raw = file.read_text(encoding="utf-8").strip()
    if raw.startswith("{"):
        value = json.loads(raw).get("receipt")
        if not isinstance(value, str):
            raise ValueError(f"{file} holds no `receipt`")
        return value
    return raw


def _jwks(source: str) -> dict[str, Any]:
    if source.startswith(("http://", "https://")):
        loaded: dict[str, Any] = httpx.get(source, timeout=30).raise_for_status().json()
    else:
        loaded = json.loads(Path(source).read_text(encoding="utf-8"))
    return loaded


def _texts(pairs: list[str]) -> dict[str, str]:
    texts = {}
    for pair in pairs:
        document_id, sep, path = pair.partition("=")
        if not sep:
            raise ValueError(f"--text takes DOC_ID=PATH, not {pair!r}")
        texts[document_id] = Path(path).read_text(encoding="utf-8")
    return texts


@signing_app.command("rotate")
def rotate() -> None:
    """Make a new signing key in the data dir; the old one's public key stays published, so
    what it signed still verifies. Restart the server to sign with the new key."""
    from api.settings import Settings
    from tenancy import signing

    settings = Settings()
    if settings.signing_key_file is not None:
        typer.echo(
            "error: the key comes from ENCLAVE_SIGNING_KEY_FILE: replace that file, and put "
            f"the old public key (PEM) into {settings.signing_path / signing.RETIRED}",
            err=True,
        )
        raise typer.Exit(2)
    ring = signing.rotate(settings.signing_path)
    typer.echo(f"signing with {ring.kid} from the next start; {len(ring.retired)} key(s) retired")
