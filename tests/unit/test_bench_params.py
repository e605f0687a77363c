"""`vpclab run` parameters: typed by each experiment's defaults, one clear error otherwise."""
import pytest

import experiments
from testbed.bench.params import ParamError, parse

DEFAULTS = dict(repeats=3, seconds=3.0, mtus=[1500, 9001], modes=['proactive'], sg=False,
                topology='topologies/default.yaml')


def test_values_take_the_type_of_their_default():
    p = parse(['repeats=5', 'seconds=1.5', 'mtus=1500', 'modes=proactive,reactive', 'sg=on',
               'topology=x.yaml'], DEFAULTS)
    assert p == dict(repeats=5, seconds=1.5, mtus=[1500], modes=['proactive', 'reactive'],
                     sg=True, topology='x.yaml')
    assert parse([], DEFAULTS) == DEFAULTS
    assert parse(['sg=off'], DEFAULTS)['sg'] is False


@pytest.mark.parametrize('pair, message', [
    ('repeat=3', "unknown parameter 'repeat'; this experiment takes: modes, mtus, repeats"),
    ('repeats', "'repeats' is not key=value"),
    ('repeats=two', 'repeats=two: expected a whole number, like repeats=3'),
    ('mtus=1500,big', 'mtus=1500,big: expected a comma-separated list, like mtus=1500,9001'),
    ('sg=maybe', 'sg=maybe: expected on or off'),
    ('repeats=0', 'repeats=0: run at least once'),
])
def test_bad_parameters_are_one_clear_error(pair, message):
    with pytest.raises(ParamError) as err:
        parse([pair], DEFAULTS)
    assert message in str(err.value)


def test_every_experiment_declares_what_the_framework_needs():
    assert {'convergence', 'isolation', 'latency', 'scale', 'throughput'} <= set(experiments.names())
    for name in experiments.names():
        module = experiments.get(name)
        assert module.DESCRIPTION and '\n' not in module.DESCRIPTION
        assert 'repeats' in module.PARAMETERS
        assert set(module.QUICK) <= set(module.PARAMETERS), name
        for attr in ('run', 'summarize', 'describe', 'plot'):
            assert callable(getattr(module, attr)), (name, attr)


def test_an_unknown_experiment_names_the_known_ones():
    with pytest.raises(experiments.UnknownExperiment, match='latency'):
        experiments.get('latncy')
