"""A check denied at a Hyperplane node, with real packets (topologies/hyperplane.yaml): the internet to
pub-nlb's elastic IP on a port it has no listener on.  Blackfoot lets the SYNs in to the node of their
bucket, which drops them (`drop:no-listener`); the runner reads that from the node's counters, so a check
naming that reason passes and one naming another fails, saying which node dropped the packet and why."""
import json
import subprocess
import sys

from conftest import ROOT, topology

from testbed.fabric import hyperplane_plan
from testbed.lab import Lab
from testbed.labs import checks
from testbed.labs.runner import Runner

CHECKS = '''checks:
  - {name: listener, from: example-web, to: pub-nlb, protocol: tcp, port: 80, expect: allowed}
  - {name: right, from: example-web, to: pub-nlb, protocol: tcp, port: 81, expect: denied, reason: no-listener}
  - {name: wrong, from: example-web, to: pub-nlb, protocol: tcp, port: 81, expect: denied, reason: no-flow}
'''


def test_a_denial_at_a_node_is_read_from_its_counters_and_names_the_node(tmp_path):
    path = tmp_path / 'checks.yaml'
    path.write_text(CHECKS)
    with Lab(topology('hyperplane.yaml')) as lab:
        listener, right, wrong = Runner(lab).run(checks.load(path, lab.topology))
        # and `vpclab counters` in another terminal shows that node's drop, from the same files
        shown = subprocess.run([sys.executable, '-m', 'testbed.commands.cli', 'counters', '-o', 'json'], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
    table = checks.render([listener, right, wrong], 'hyperplane', 'table')
    assert listener.passed and right.passed, table
    first = right.drops[0]
    shard = next(r.shard for r in hyperplane_plan.resources(lab.topology) if r.name == 'pub-nlb')
    assert (first.stage, first.reason, first.counted) == ('HYPERPLANE_NODE', 'no-listener', True) and \
        first.host in shard, table
    # the model, given the source port of an attempt that met that node, agrees: its words for what decided
    assert first.rule.startswith(f'{first.host} drops ') and 'no listener' in first.rule, table
    assert not wrong.passed, table
    assert wrong.why.startswith('denied, but not for no-flow: dropped at HYPERPLANE_NODE on hp'), table
    nodes = json.loads(shown.stdout)['HyperplaneNodes']['Nodes']
    counted = {n: nodes[n]['handler'].get('drop:no-listener', 0) for n in shard}
    assert counted[first.host] >= 1 and sum(counted.values()) >= 2, shown      # each check sent at least one SYN
