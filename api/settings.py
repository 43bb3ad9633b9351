"""Settings, read from `ENCLAVE_*` environment variables; only `api/` reads them."""

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Key listings show a key's first 10 characters: a configured key must be much longer.
MIN_OPERATOR_KEY = 32


class Settings(BaseSettings):
    """Every knob of the service, with the embedded default needing none of them."""

    model_config = SettingsConfigDict(env_prefix="ENCLAVE_", extra="ignore")

    data_dir: Path = Field(Path("./data"), description="Where the embedded stores live.")
    backup_dir: Path | None = Field(
        None,
        description="The only folder `enclave backup` (`POST /v1/admin/backups`) may write "
        "into; default: `backups` next to the data dir.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in the data dir."
    )
    blob_dir: Path | None = Field(
        None,
        description="Where original files are stored (content-addressed); default: "
        "`<data_dir>/blobs`. Point API and workers at one shared volume when scaled out.",
    )
    qdrant_url: str | None = Field(
        None,
        description="Qdrant server URL, or `local` (qdrant-client local mode); "
        "default: the embedded Qdrant Edge engine in the data dir.",
    )
    qdrant_api_key: str | None = Field(None, description="API key of the Qdrant server.")
    edge_max_open_shards: int = Field(
        64,
        ge=1,
        description="Embedded engine: tenant shards kept open (least recently used closed "
        "first). An open shard holds ~24 MB of RSS for a small tenant (mostly mmapped index "
        "pages the kernel can reclaim), more for a large one; opening one costs ~35 ms.",
    )
    edge_hnsw_threshold: int = Field(
        20_000, ge=1000, description="Embedded engine: points before a tenant gets an HNSW index."
    )
    operator_key: str | None = Field(
        None,
        description="The operator key, at least 32 characters (key listings show its first "
        "10); generated and printed once when unset. A new value revokes the one it replaces.",
    )
    embedding_model: str = Field(
        "default", description="`default` (bundled all-MiniLM-L6-v2), a local path or a model name."
    )
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="Encoder runtime: sentence-transformers (`torch`) or ONNX Runtime fp32/int8, "
        "exported once from the model into `<data_dir>/models` (int8 won `benchmarks/encoder.py`).",
    )
    max_upload_mb: float = Field(50.0, gt=0, description="Largest accepted file, in MB.")
    max_files_per_upload: int = Field(100, gt=0, description="Files per upload request.")
    max_request_mb: float = Field(200.0, gt=0, description="Largest upload request body, in MB.")
    max_archive_members: int = Field(1000, gt=0, description="Files in one uploaded zip.")
    max_archive_mb: float = Field(500.0, gt=0, description="What one zip may expand to, in MB.")
    max_manifest_entries: int = Field(
        100_000, ge=1, description="Files one sync's manifest may list."
    )
    sync_idle_s: float = Field(
        600.0,
        gt=0,
        description="An open sync run that saw no upload for this long gives way to a new "
        "run of the same source with another manifest (before that: 409).",
    )
    chunk_max_chars: int = Field(1200, ge=200, description="Upper bound of a chunk's length.")
    hybrid_prefetch: int = Field(50, ge=1, description="Candidates per branch of a hybrid query.")
    rrf_k: int = Field(60, ge=1, description="The k of reciprocal rank fusion.")
    rerank_model: str | None = Field(
        None, description="Local directory of a cross-encoder; unset: `rerank: true` is a 422."
    )
    rerank_candidates: int = Field(
        20, ge=1, le=200, description="Fused hits the cross-encoder re-scores per search."
    )
    parse_isolation: Literal["process", "thread"] = Field(
        "process", description="Parse in killable child processes (`thread`: in-process)."
    )
    parse_timeout_s: float = Field(120.0, gt=0, description="Time limit to parse one file.")
    parse_memory_mb: int = Field(3072, ge=256, description="Address-space cap of a parser process.")
    parse_idle_s: float = Field(
        300.0,
        ge=0,
        description="The parser process (~650 MB warm) starts on the first upload and stops "
        "after this many seconds without one; the next upload waits ~10 s for a new one. "
        "0: start it with the server and keep it.",
    )
    signing_key_file: Path | None = Field(
        None,
        description="Ed25519 private key (PEM) that signs receipts and audit checkpoints; "
        "default: made on first start in `<data_dir>/signing` (rotate with `enclave "
        "signing-key rotate`).",
    )
    anchor_dir: Path | None = Field(
        None,
        description="Append-only folder of signed audit checkpoints, outside the database "
        "(point it at WORM storage); default: `anchors` next to the data dir.",
    )
    anchor_every_s: float = Field(10.0, gt=0, description="Seconds between audit checkpoints.")
    anchor_every_events: int = Field(
        100, ge=1, description="Audit events after which a checkpoint is written sooner."
    )
    redis_url: str | None = Field(
        None, description="Redis for rate limits shared by several API processes."
    )
    metrics_documents: bool = Field(
        False,
        description="Also expose every tenant's documents, counted together by status, at the "
        "unauthenticated /metrics (the queue depth is always there).",
    )
    redis_timeout_s: float = Field(
        0.25,
        gt=0,
        description="Bound of each Redis call; while Redis fails, rate limits fall back to "
        "in-process buckets (a warning and `enclave_rate_limit_fallback`).",
    )
    key_rate_per_second: float = Field(20.0, gt=0, description="Requests/s per key.")
    key_rate_burst: int = Field(40, ge=1, description="Burst per key.")
    tenant_rate_per_second: float = Field(50.0, gt=0, description="Requests/s per tenant.")
    tenant_rate_burst: int = Field(100, ge=1, description="Burst per tenant.")
    max_documents: int | None = Field(None, ge=1, description="Documents per tenant.")
    max_bytes: int | None = Field(
        10 * 1024**3,
        ge=1,
        description="Stored bytes per tenant (default 10 GiB, so that no tenant fills the disk "
        "for all; a tenant's own limit overrides it).",
    )
    min_free_mb: int = Field(
        512,
        ge=0,
        description="Free disk space kept in reserve: below it uploads and syncs answer 507 "
        "`insufficient_storage` and workers leave documents queued; reads go on.",
    )
    max_chunks: int | None = Field(None, ge=1, description="Chunks per tenant.")
    group_commit: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Write concurrent searches' records and audit events in shared "
        "transactions, from one thread (`auto`: on PostgreSQL, where it measured faster; off "
        "on SQLite, where it did not).",
    )
    search_concurrency: int = Field(
        0,
        ge=0,
        description="Searches run at once, each in a worker thread; the others wait their "
        "turn in the event loop. 0: `auto`, the CPU count on SQLite (its one writer and the "
        "GIL measured faster with few searches in flight), no limit on PostgreSQL (group "
        "commit shares a commit between the searches in flight).",
    )
    workers: Literal["embedded", "external"] = Field(
        "embedded",
        description="`embedded`: the API process indexes uploads itself; `external`: it only "
        "queues them for `enclave worker` processes (which need a shared database and a "
        "Qdrant server).",
    )
    worker_lease_s: float = Field(
        60.0, ge=1, description="How long a worker's claim on a document lasts unrenewed."
    )
    worker_poll_s: float = Field(1.0, gt=0, description="How often an idle worker looks for work.")
    erasure_resume_after_s: float = Field(
        30.0,
        ge=0,
        description="An erasure unfinished this long is taken for interrupted by a crash and "
        "finished by a worker (on start, then when idle).",
    )
    worker_max_attempts: int = Field(
        5, ge=1, description="Claims of one document before it is failed as a worker-killer."
    )
    max_queue_depth: int | None = Field(
        10_000,
        ge=1,
        description="Documents waiting for indexing (all tenants) before uploads get 429.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        # The standard variable works too: it is what collectors' docs tell operators to set.
        validation_alias=AliasChoices(
            "ENCLAVE_OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
        description="OTLP/HTTP collector base URL (or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`): "
        "traces go to `<url>/v1/traces`; unset: no tracing.",
    )

    @field_validator("operator_key")
    @classmethod
    def _operator_key_long_enough(cls, value: str | None) -> str | None:
        """A short key would be mostly shown by key listings (their 10-character prefix)."""
        if value and len(value) < MIN_OPERATOR_KEY:
            raise ValueError(
                f"ENCLAVE_OPERATOR_KEY must be at least {MIN_OPERATOR_KEY} characters; make one "
                "with: python3 -c 'import secrets; print(\"ek_\" + secrets.token_urlsafe(32))'"
            )
        return value

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'enclave.db').resolve()}"

    @property
    def signing_path(self) -> Path:
        """Where the signing keys live (the current one unless configured, the retired ones)."""
        return self.data_dir / "signing"

    @property
    def anchors_path(self) -> Path:
        """The checkpoint folder, defaulting to `anchors` next to the data dir."""
        return self.anchor_dir or self.data_dir.resolve().parent / "anchors"

    @property
    def blobs_path(self) -> Path:
        """The blob directory, defaulting to `<data_dir>/blobs`."""
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def max_upload_bytes(self) -> int:
        """The per-file limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)
