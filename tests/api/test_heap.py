"""A long-lived server freezes its startup heap out of the garbage collector's full passes."""

import gc

from api.app import create_app
from api.settings import Settings
from tests.fakes import HashingEmbedder


async def test_a_long_lived_app_freezes_its_startup_heap_until_it_stops(
    settings: Settings,
) -> None:
    app = create_app(settings, embedder=HashingEmbedder(), long_lived=True)
    assert gc.get_freeze_count() == 0
    async with app.router.lifespan_context(app):
        # The services built at startup are among the frozen objects.
        assert gc.get_freeze_count() > 0
        assert _frozen(app.state.services)
    assert gc.get_freeze_count() == 0


async def test_an_app_of_the_tests_leaves_the_collector_alone(settings: Settings) -> None:
    app = create_app(settings, embedder=HashingEmbedder())
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() == 0


def _frozen(obj: object) -> bool:
    """Whether `obj` sits in the permanent generation (in no generation the collector walks)."""
    return all(not any(o is obj for o in gc.get_objects(generation)) for generation in (0, 1, 2))
