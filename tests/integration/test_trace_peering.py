"""`vpclab trace` across a peering on a real lab, model and wire agreeing, through the CLI as a second
terminal runs it (the lab found by its run state) and through the `vpclab up` shell."""
import subprocess
import sys

import pytest
from conftest import ROOT, topology

from testbed.commands.shell import VpcShell
from testbed.commands.trace import probe
from testbed.lab import Lab
from testbed.observe.trace_model import TraceState, trace
from testbed.observe.trace_wire import trace_wire


@pytest.fixture(scope='module')
def lab():
    with Lab(topology('peering.yaml')) as lab:
        yield lab


def test_across_the_peering_both_modes_agree(lab):
    model = trace(lab.topology, TraceState.of_lab(lab), 'blue-1', 'green-1', probe('icmp'))
    wire = trace_wire(lab, 'blue-1', 'green-1', probe('icmp'))
    assert model.key == wire.key == ('reachable', None, None, None)
    assert any(s.stage == 'ROUTE_TABLE' and 'pcx:blue-green' in s.detail for s in model.steps)
    assert [s.host for s in wire.steps if s.stage == 'DELIVER'] == ['r1-h2']
    # red has blue's CIDR and is peered with nobody: its address is nobody's in blue
    red = [trace(lab.topology, TraceState.of_lab(lab), 'blue-1', 'red-1', probe('icmp')),
           trace_wire(lab, 'blue-1', 'red-1', probe('icmp'))]
    assert red[0].key == red[1].key == ('dropped', 'MAPPING', 'r1-h1', 'no-mapping')


def vpclab(*args):
    """The CLI as a second terminal runs it: it finds the lab by its run state."""
    out = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    return out.returncode, out.stdout.strip() or out.stderr.strip()


def test_the_cli_and_the_shell(lab, capsys):
    assert vpclab('trace', '--minimal', 'blue-1', 'green-2', 'tcp/80') == (0, 'blue-1 -> green-2 tcp/80: allowed')
    assert vpclab('trace', '--wire', '--minimal', 'green-1', 'blue-1', 'udp/5000') == \
        (0, 'green-1 -> blue-1 udp/5000: allowed')
    assert vpclab('trace', 'blue-1', 'nobody')[0] == 2
    shell = VpcShell.__new__(VpcShell)       # the shell's command, without its interactive loop
    shell.lab = lab
    shell.onecmd('trace blue-1 green-1 --minimal')
    assert capsys.readouterr().out.strip() == 'blue-1 -> green-1 icmp: allowed'
