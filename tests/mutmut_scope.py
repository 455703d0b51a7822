"""A pytest plugin for `make mutate`: judge a mutant of events/ by the events tests alone.

Every app test builds an event pipeline and ships through it, so mutmut's recorded run
links each events/ function to ~165 tests; running them all for each of ~1,200 events/
mutants would take hours on two cores. The events tests exercise events/ directly. Outside
a mutant run (no MUTANT_UNDER_TEST, or mutmut's recording run) this plugin does nothing.
"""

import os

EVENTS_TESTS = ("tests/test_events_", "tests/test_service_durability.py")


def pytest_collection_modifyitems(config, items):
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if not mutant.startswith("events."):
        return
    keep = [item for item in items if item.nodeid.startswith(EVENTS_TESTS)]
    dropped = [item for item in items if not item.nodeid.startswith(EVENTS_TESTS)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
