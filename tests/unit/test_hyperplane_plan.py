"""The Hyperplane plan: nodes, resources and their shards, from the topology alone."""
import os

from testbed.appliances.hyperplane import sharding
from testbed.fabric import edge_plan
from testbed.fabric import hyperplane_plan as hp
from testbed.fabric.controller import controller_config
from testbed.fabric.names import Names
from testbed.topology import load

HERE = os.path.dirname(os.path.abspath(__file__))
EDGE = os.path.join(HERE, '..', '..', 'topologies', 'edge.yaml')
DEFAULT = os.path.join(HERE, '..', '..', 'topologies', 'default.yaml')


def test_nodes_only_when_a_resource_needs_them():
    assert not hp.needed(load(DEFAULT)) and hp.nodes(load(DEFAULT)) == []
    topo = load(EDGE)
    nodes = hp.nodes(topo)
    assert [n.name for n in nodes] == [f'hp{k}' for k in range(1, topo.hyperplane.nodes + 1)]
    assert nodes[0].ip == '100.127.254.1' and nodes[0].mac == '02:aa:fb:00:00:01'
    assert edge_plan.needed(topo)


def test_every_resource_with_its_addresses_and_shard():
    topo = load(EDGE)
    by_kind = {r.kind: r for r in reversed(hp.resources(topo))}   # the first of each kind
    nat = by_kind['nat']
    blue = topo.vpcs['blue']
    assert nat.ips == [blue.nat_gateways['nat-a'].ip] and nat.public_ips == [blue.elastic_ips['nat-eip'].address]
    assert len(nat.shard) == topo.hyperplane.shard_size
    # web-2 is in use1-az2, where web-nlb has no subnet: registered, but no traffic (cross-zone off, as in AWS)
    assert by_kind['nlb'].listeners == [('tcp', 80, 8080, ['web-1'])]
    ep = by_kind['endpoint']
    assert ep.vpc == 'blue' and ep.provider['vpc'] == 'shop' and ep.provider['nlb_ip']


def test_a_failed_node_leaves_every_shard_and_is_not_replaced():
    topo = load(EDGE)
    whole = {r.id: r.shard for r in hp.resources(topo)}
    lost = whole[hp.resources(topo)[0].id][0]
    for r in hp.resources(topo, failed=[lost]):
        assert r.shard == [n for n in whole[r.id] if n != lost]
    assert any(failed == [lost] for *_, failed in hp.shard_table(topo, [lost]))


def test_the_controller_is_told_the_nodes_and_resources(tmp_path):
    topo = load(EDGE)
    cfg = controller_config(topo, Names('t1_'), 1, str(tmp_path))['hyperplane']
    assert cfg['nodes']['hp1'] == '100.127.254.1' and cfg['failed'] == []
    assert {r['kind'] for r in cfg['resources']} == {'nat', 'nlb', 'endpoint'}


def test_buckets_move_only_with_their_node():
    nodes = ['hp1', 'hp2', 'hp3']
    before = {b: sharding.bucket_owner('nat-1', b, nodes) for b in range(sharding.BUCKETS)}
    after = {b: sharding.bucket_owner('nat-1', b, ['hp1', 'hp3']) for b in range(sharding.BUCKETS)}
    assert all(after[b] == before[b] for b in before if before[b] != 'hp2')
    assert sharding.bucket_of(bytes(4), 0x1235) == 5 and sharding.bucket_of(b'\x0a\0\0\x0b') == 3
    assert sharding.bucket_owner('x', 0, []) is None


def test_a_controller_started_with_a_failed_node_gives_its_buckets_back_when_it_is_restored():
    from controllers.router.hyperplane import Hyperplane
    topo = load(EDGE)
    lost = hp.resources(topo)[0].shard[0]
    started = Hyperplane(hp.controller_section(topo, [lost]))
    assert all(r['shard'] == whole.shard for r, whole in zip(started.resources, hp.resources(topo)))
    assert lost not in started.live(started.resources[0])
    restored = started.with_failed([])
    assert all(restored.live(r) == r['shard'] for r in restored.resources)
    assert started.describe()['failed'] == [lost]


def test_the_nodes_counters_files_make_the_counters_views_tables(tmp_path):
    from testbed.appliances.edge_process import write_counters
    from testbed.commands.output import Report
    from testbed.commands.views import appliance_tables
    for name, dropped in (('hp1', 0), ('hp2', 3)):
        write_counters(hp.counters_path(str(tmp_path), name),
                       {'received': 10, 'handler': {'nat:forward': 4, 'drop:no-listener': dropped}})
    nodes = hp.read_counters(str(tmp_path))
    assert set(nodes) == {'hp1', 'hp2'}
    report = appliance_tables(Report([], {}), nodes, 'Hyperplane nodes', 'HyperplaneNodes')
    counted, drops = report.tables
    assert list(counted.rows) == [('received', 20, 10, 10), ('nat:forward', 8, 4, 4)]
    assert list(drops.rows) == [('no-listener', 3, 0, 3)]
    assert report.document['HyperplaneNodes']['Total']['handler']['drop:no-listener'] == 3
