"""vpclab graph, offline: every topology file drawn in both layers, as Mermaid and as DOT that
Graphviz accepts; a clear error when Graphviz is missing."""
import glob
import os
import shutil
import subprocess

import pytest

from testbed.commands import cli, graph
from testbed.errors import LabError
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = sorted(glob.glob(os.path.join(ROOT, 'topologies', '*.yaml')))


@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_both_layers_name_everything_the_model_has(path):
    topo = load(path)
    for text in (graph.mermaid(topo), graph.dot(topo)):
        for inst in topo.instances():
            assert graph.ident('i', inst.name) in text
        for host in topo.hosts:
            assert f'physical host {host}' in text
        for az in topo.azs:
            assert f'AZ {az}' in text
        for vpc in topo.vpcs.values():
            assert f'VPC {vpc.name} {vpc.cidr} (VNI {vpc.vni}' in text
            for subnet in vpc.subnets.values():
                assert f'{subnet.name}' in text and subnet.cidr in text
        for p in topo.peerings:
            assert f'peering {p.name}' in text


def test_instances_are_coloured_by_vpc():
    topo = load(os.path.join(ROOT, 'topologies', 'default.yaml'))
    text = graph.mermaid(topo)
    assert 'class i_web_1 vpc0' in text and 'class i_red_1 vpc1' in text and 'class i_green_1 vpc2' in text
    assert graph.PALETTE[1][0] in graph.dot(topo).split('i_red_1 [')[1].split('\n')[0]


def test_gateways_are_the_route_tables_targets():
    topo = load(os.path.join(ROOT, 'topologies', 'firewall.yaml'))
    text = graph.mermaid(topo, 'logical')
    assert 'internet gateway' in text and 'virtual private gateway' in text
    assert 's_blue_blue_c ---|"0.0.0.0/0 (edge)"| g_blue_igw' in text
    assert 's_blue_blue_c -.-|"10.8.0.0/16 (edge)"| g_blue_blackhole' in text
    assert 'physical host' not in text and 'logical' not in graph.mermaid(topo, 'physical')


@pytest.mark.skipif(shutil.which('dot') is None, reason='Graphviz is not installed')
@pytest.mark.parametrize('path', FILES, ids=os.path.basename)
def test_graphviz_reads_the_dot(path):
    out = subprocess.run(['dot', '-Tsvg'], input=graph.dot(load(path)), capture_output=True, text=True)
    assert out.returncode == 0 and '<svg' in out.stdout and not out.stderr, out.stderr


def test_svg_and_png_through_the_cli(tmp_path, capsys):
    path = os.path.join(ROOT, 'topologies', 'peering.yaml')
    if shutil.which('dot') is None:
        pytest.skip('Graphviz is not installed')
    assert cli.main(['graph', path, '--format', 'png', '-w', str(tmp_path / 'g.png')]) == 0
    assert (tmp_path / 'g.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert cli.main(['graph', path, '--format', 'dot']) == 0
    assert capsys.readouterr().out.startswith('// vpclab graph')


def test_missing_graphviz_is_one_line_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(graph.shutil, 'which', lambda name: None)
    with pytest.raises(LabError, match='apt-get install graphviz'):
        graph.draw('graph x {}', 'svg')
    assert cli.main(['graph', os.path.join(ROOT, 'topologies', 'default.yaml'), '--format', 'svg']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'Graphviz' in err


def test_a_bad_file_is_exit_2(tmp_path, capsys):
    assert cli.main(['graph', str(tmp_path / 'nosuch.yaml')]) == 2
    assert 'no such file' in capsys.readouterr().err
