"""`enclave worker`: an ingestion worker process beside one or more API processes."""

import logging
import signal
from types import FrameType

from api import services, tracing
from api.ops import migrate
from api.settings import Settings
from ingest.worker import Worker

log = logging.getLogger("enclave.worker")


class WorkerRefused(Exception):
    """The configuration cannot support a separate worker process."""


def check(settings: Settings) -> None:
    """Separate workers need stores that several processes share."""
    if settings.qdrant_url is None:
        raise WorkerRefused(
            "the embedded Qdrant Edge index belongs to the server process; separate workers "
            "need a Qdrant server (set ENCLAVE_QDRANT_URL) and a shared ENCLAVE_DATABASE_URL"
        )
    if settings.qdrant_url == "local":
        log.warning("qdrant-client local mode is private to this process: for tests only")


def run(settings: Settings) -> None:
    """Build the services, then claim and index documents until SIGTERM or SIGINT."""
    check(settings)
    tracer_provider = tracing.configure(settings)
    built = services.build(settings)
    try:
        if not migrate.is_current(built.engine):
            raise WorkerRefused("the database is not at the newest revision: run `enclave migrate`")
        _install_signals(built.worker)
        built.worker.run()
    finally:
        built.close()
        tracing.shutdown(tracer_provider)


def _install_signals(worker: Worker) -> None:
    def finish(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current batch, then stopping", signum)
        worker.request_stop()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
