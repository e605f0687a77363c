"""Result directories: raw data with the machine and versions, a summary, and plots
drawn again from the saved data alone."""
import csv
import json
import math
import os

import pytest
from bench_samples import SAMPLES, params

import experiments
from testbed.bench import results, runner
from testbed.bench.results import ResultError

MACHINE = dict(hostname='vm', cpus=2, memory_mb=24000, kernel='6.1', os='Debian',
               ovs='ovs-vsctl (Open vSwitch) 3.1.0', python='3.11.2', os_ken='2.8',
               mininet='2.3', matplotlib='3.6', netem=False, git_revision='abc123' * 6,
               git_dirty=False, command='vpclab run x')


def meta_for(name):
    module = experiments.get(name)
    return dict(experiment=name, description=module.DESCRIPTION, params=params(name),
                machine=MACHINE, conditions=dict(link_conditioning='none'),
                started='2026-12-01T10:00:00', duration_s=1.0)


@pytest.fixture
def result_dir(tmp_path):
    def make(name):
        path = results.new_dir(name, str(tmp_path))
        results.write(path, meta_for(name), SAMPLES[name]())
        return path
    return make


def test_a_result_directory_holds_data_meta_and_versions(tmp_path, result_dir):
    path = result_dir('throughput')
    assert os.path.basename(path).endswith('-throughput')
    meta, rows = results.load(path)
    assert meta['machine']['kernel'] == '6.1' and meta['machine']['ovs'].endswith('3.1.0')
    assert meta['params']['mtus'] == [1500, 9001]
    assert rows == SAMPLES['throughput']()
    with open(os.path.join(path, results.DATA_CSV)) as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and table[0]['path'] == 'plain-ovs'
    # a second run in the same second gets its own directory
    assert results.new_dir('throughput', str(tmp_path), now=None) != path


def test_machine_says_what_the_result_was_measured_on():
    m = results.machine()
    for key in ('hostname', 'cpus', 'kernel', 'ovs', 'python', 'git_revision', 'netem',
                'os_ken', 'matplotlib'):
        assert key in m
    assert m['python'].count('.') == 2


@pytest.mark.parametrize('name', sorted(SAMPLES))
def test_plots_and_summary_are_drawn_from_saved_data_alone(name, result_dir):
    path = result_dir(name)
    metrics = runner.redraw(path)
    module = experiments.get(name)
    assert metrics and set(metrics) <= set(module.METRICS)
    assert all(isinstance(v, float) and not math.isnan(v) for v in metrics.values()), metrics
    files = os.listdir(path)
    for fig_name, _ in module.plot(SAMPLES[name](), params(name)):
        assert fig_name + '.png' in files and fig_name + '.svg' in files
    with open(os.path.join(path, results.SUMMARY)) as f:
        summary = f.read()
    assert 'git abc123abc1' in summary and 'link delay/loss: none' in summary
    assert all(m in summary for m in metrics)


def test_sample_figures_come_out_as_the_ratios_they_should(result_dir):
    tp = runner.redraw(result_dir('throughput'))
    assert tp['tcp_same_host_1500'] == pytest.approx(1.1)
    assert tp['udp_cross_rack_9001'] == pytest.approx(0.5)
    lat = runner.redraw(result_dir('latency'))
    assert lat['first_over_second_reactive'] == pytest.approx(8.5 / 1.6)   # lost ping ignored
    iso = runner.redraw(result_dir('isolation'))
    assert iso == dict(attack_leak_fraction=0.0, control_delivery_fraction=1.0)
    sc = runner.redraw(result_dir('scale'))
    assert sc['startup_per_instance_over_plain'] == pytest.approx(0.05 / 0.04)
    edge = runner.redraw(result_dir('edge'))
    assert edge == pytest.approx(dict(edge_pps_over_raw_socket=310 / 210, edge_pps_over_ring_copy=310 / 410,
                                      edge_pps_per_cpu_over_ring_copy=2.3 / 2.9, tcp_igw_over_cross_host=1 / 3))


def test_security_groups_on_and_off_give_their_ratio_each_over_its_own_plain_path():
    module = experiments.get('throughput')
    rows = [dict(r, security_groups='off') for r in SAMPLES['throughput']()]
    rows += [dict(r, security_groups='on', mbps=r['mbps'] * (0.8 if r['path'] == 'cross-host'
                                                              else 1.0))
             for r in SAMPLES['throughput']()]
    p = dict(params('throughput'), security_groups=['on', 'off'])
    got = module.summarize(rows, p)
    assert got['tcp_cross_host_9001_sg_on_over_off'] == pytest.approx(0.8)
    assert got['tcp_cross_host_1500'] == pytest.approx(0.56)       # the first setting: on
    assert [name for name, _ in module.plot(rows, p)] == [
        'tcp-throughput-sg-on', 'udp-throughput-sg-on', 'tcp-throughput-sg-off',
        'udp-throughput-sg-off']


def test_redrawing_something_that_is_not_a_result_says_so(tmp_path):
    with pytest.raises(ResultError, match='is not a result directory'):
        runner.redraw(str(tmp_path))
    (tmp_path / results.META).write_text('{not json')
    with pytest.raises(ResultError):
        runner.redraw(str(tmp_path))


def test_meta_is_plain_json(result_dir):
    with open(os.path.join(result_dir('scale'), results.META)) as f:
        assert json.load(f)['experiment'] == 'scale'
