"""`pytest tests` collects unit and integration tests in one run, by basename: a name used in both
folders stops the whole run at collection, so it must never happen."""
import pathlib

TESTS = pathlib.Path(__file__).resolve().parent.parent


def test_no_test_module_name_is_used_in_both_folders():
    unit = {p.name for p in (TESTS / 'unit').glob('*.py')}
    integration = {p.name for p in (TESTS / 'integration').glob('*.py')}
    assert not unit & integration - {'conftest.py'}, 'rename one of them'
