"""schema/topology.schema.json follows the loader: it accepts every file the loader accepts (every file
under topologies/, the texts of the loader's own unit tests and their edits that load) and rejects what
the loader rejects where a schema can: unknown keys, wrong types, values outside an enum or a range, in
the loader's fixtures and in mutations of every accepted file at every key."""
import copy
import glob
import importlib
import json
import os
import re

import jsonschema
import pytest
import yaml

from testbed.commands import topology_schema
from testbed.topology import TopologyError, loads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = sorted(glob.glob(os.path.join(ROOT, 'topologies', '*.yaml')))
VALIDATOR = jsonschema.Draft202012Validator(topology_schema.schema(), format_checker=jsonschema.FormatChecker())
# what the loader says when a schema could have said it too
SCHEMA_CAN = re.compile(r"unknown key|expected a (whole number|mapping|list|single value|number)|is not (a mode|an "
                        r"encapsulation|a known instance type|a tenancy|a placement strategy|an action)|"
                        r"is not supported; this version|is not a valid name")


class StringKeys(yaml.SafeLoader):
    """YAML as an editor hands it to a schema: mapping keys are strings."""


StringKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, lambda loader, node: {
    str(loader.construct_object(k)): loader.construct_object(v, deep=True) for k, v in node.value})


def schema_accepts(text):
    return not list(VALIDATOR.iter_errors(yaml.load(text, Loader=StringKeys)))


def loader_accepts(text):
    try:
        loads(text, 'x.yaml')
        return True, None
    except TopologyError as exc:
        return False, exc.message


def test_the_schema_file_is_generated_and_valid():
    with open(topology_schema.PATH) as f:
        assert f.read() == topology_schema.text(), 'run: python -m testbed.commands.topology_schema --update'
    jsonschema.Draft202012Validator.check_schema(json.loads(topology_schema.text()))


@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_every_topology_file_names_the_schema_and_is_accepted(path):
    with open(path) as f:
        text = f.read()
    assert text.splitlines()[0] == topology_schema.MODELINE
    assert os.path.normpath(os.path.join(os.path.dirname(path), topology_schema.URL)) == topology_schema.PATH
    assert loader_accepts(text) == (True, None) and schema_accepts(text)


def loader_fixtures():
    """(name, text) of the loader's unit tests: their topology texts and every (old, new) edit."""
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'tests', 'unit', 'test_*.py'))):
        name = os.path.basename(path)[:-3]
        with open(path) as f:
            if 'testbed.topology import' not in f.read() or name == 'test_topology_schema':
                continue
        module = importlib.import_module(name)
        for key, value in vars(module).items():
            if isinstance(value, str) and re.search(r'(^|\n)fabric:', value):
                found.append((f'{name}.{key}', value))
        edit = getattr(module, 'edit', None)
        for test in (v for k, v in vars(module).items() if k.startswith('test_') and callable(v)):
            for mark in getattr(test, 'pytestmark', []):
                names = mark.args[0] if mark.name == 'parametrize' else ''
                names = [n.strip() for n in names.split(',')] if isinstance(names, str) else list(names)
                if edit is None or names[:2] != ['old', 'new']:
                    continue
                for n, case in enumerate(mark.args[1]):
                    values = case.values if hasattr(case, 'values') else case
                    try:
                        found.append((f'{name}.{test.__name__}[{n}]', edit(values[0], values[1])))
                    except AssertionError:          # an edit of another base text
                        pass
    return found


FIXTURES = loader_fixtures()


def test_the_loader_fixtures_were_found():
    assert len(FIXTURES) > 30


@pytest.mark.parametrize('name, text', FIXTURES, ids=[n for n, _ in FIXTURES])
def test_the_schema_agrees_with_the_loader_on_its_fixtures(name, text):
    accepted, message = loader_accepts(text)
    try:
        schema_ok = schema_accepts(text)
    except yaml.YAMLError:
        return                                       # not YAML: nothing for a schema to say
    if accepted:
        assert schema_ok, f'the loader accepts {name}, the schema does not'
    elif SCHEMA_CAN.search(message):
        assert not schema_ok, f'the loader rejects {name} ({message}), the schema accepts it'


def mutations(data, path=()):
    """(where, mutated document): an unknown key in every mapping, a list for every scalar."""
    if isinstance(data, dict):
        yield path + ('bogus_key',), {**data, 'bogus_key': 1}
        for key, value in data.items():
            for where, changed in mutations(value, path + (key,)):
                yield where, {**data, key: changed}
    elif isinstance(data, list):
        for n, value in enumerate(data):
            for where, changed in mutations(value, path + (n,)):
                yield where, data[:n] + [changed] + data[n + 1:]
    elif data is not None:
        yield path, [data]


@pytest.mark.parametrize('path', [f for f in FILES if 'large' not in f], ids=os.path.basename)
def test_both_refuse_unknown_keys_and_wrong_types_everywhere(path):
    with open(path) as f:
        data = yaml.load(f, Loader=StringKeys)
    disagree = []
    for where, changed in mutations(copy.deepcopy(data)):
        text = yaml.safe_dump(changed, sort_keys=False)
        if loader_accepts(text)[0] or schema_accepts(text):
            disagree.append('.'.join(map(str, where)))
    assert not disagree, f'accepted by the loader or the schema: {disagree[:10]}'


@pytest.mark.parametrize('old, new', [
    ('mode: proactive', 'mode: sometimes'), ('encapsulation: geneve', 'encapsulation: gre'),
    ('mtu: 9001', 'mtu: 100'), ('spines: 2', 'spines: 0'), ('format: 1', 'format: 2'),
    ('{subnet: blue-a, ip: 10.0.1.10, host: r1-h1}', '{subnet: blue-a, ip: 10.0.1.10, host: r1-h1, type: z9.huge}'),
    ('r1: {hosts: 2}', 'r1: {hosts: -1}'), ('r1: {hosts: 2}', 'r1: {}'),
    ('{protocol: all, from: sg:default}', '{protocol: gre, from: sg:default}'),
])
def test_both_refuse_enums_ranges_and_missing_keys(old, new):
    with open(os.path.join(ROOT, 'topologies', 'default.yaml')) as f:
        text = f.read()
    assert old in text
    text = text.replace(old, new, 1)
    assert not loader_accepts(text)[0] and not schema_accepts(text)
