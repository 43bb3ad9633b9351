"""Tracing spans that never carry tenant content (OpenTelemetry API: no-op until configured)."""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.util.types import Attributes

Span = trace.Span


@contextmanager
def span(tracer: trace.Tracer, name: str, attributes: Attributes = None) -> Iterator[trace.Span]:
    """A child span of the current one that records a failure by its type only."""
    # Exception messages can quote tenant text (SQL parameters, parser errors), and the
    # SDK's default would copy them into the span's status and an event.
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except Exception as exc:
            failed(current, exc)
            raise


def failed(current: trace.Span, exc: BaseException) -> None:
    """Mark `current` failed, naming the exception's type and nothing of its message."""
    kind = type(exc)
    # Named as FastAPI names it on the request span: builtins bare, others with their module.
    builtin = kind.__module__ == "builtins"
    name = kind.__qualname__ if builtin else f"{kind.__module__}.{kind.__qualname__}"
    current.set_attribute("error.type", name)
    current.set_status(trace.StatusCode.ERROR)


def start(tracer: trace.Tracer, name: str, attributes: Attributes = None) -> trace.Span:
    """A span that outlives one block: entered with `within`, possibly from other threads."""
    return tracer.start_span(name, attributes=attributes, record_exception=False)


@contextmanager
def within(current: trace.Span, *, end: bool = False) -> Iterator[trace.Span]:
    """Make `current` the active span for the block (ending it afterwards when `end`)."""
    with trace.use_span(
        current, end_on_exit=end, record_exception=False, set_status_on_exception=False
    ):
        try:
            yield current
        except Exception as exc:
            failed(current, exc)
            raise
