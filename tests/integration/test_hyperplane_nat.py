"""The NAT gateway on Hyperplane nodes with real packets (topologies/hyperplane.yaml), with each state
store backend: source ports unique across the shard, a connection that survives its node's loss,
failing and restoring a node."""
import pytest
from conftest import topology
from hyperplane_helpers import ask, client, once, server

from testbed.appliances.hyperplane.nat import block_of
from testbed.fabric import hyperplane_plan
from testbed.lab import Lab
from testbed.state_store import etcd_server

WEB = '198.51.100.10'


@pytest.fixture(scope='module', params=['embedded', 'etcd'])
def lab(request):
    if request.param == 'etcd' and not etcd_server.available():
        pytest.skip(etcd_server.MISSING)
    with Lab(topology('hyperplane.yaml'), state_store=request.param) as lab:
        yield lab


def nat_of(lab):
    return next(r for r in hyperplane_plan.resources(lab.topology) if r.kind == 'nat')


def eip(lab):
    return lab.topology.vpcs['blue'].elastic_ips['nat-eip'].address


def test_connections_to_one_destination_get_unique_ports_from_every_node_of_the_shard(lab):
    nat = nat_of(lab)
    with server(lab.node('example-web'), 'web', 7000):
        seen = [once(lab.node(i), WEB, 7000) for i in ('app-1', 'web-1', 'web-2') for _ in range(20)]
    assert all(seen), seen
    addresses = [words[1].rpartition(':') for words in seen]
    assert {ip for ip, _, _ in addresses} == {eip(lab)}          # the internet sees the elastic IP
    ports = [int(port) for _, _, port in addresses]
    assert len(set(ports)) == len(ports)                        # unique across the shard
    blocks = lab.hyperplane.store.blocks(nat.id)
    assert {blocks[block_of(port)] for port in ports} == set(nat.shard)     # both nodes gave ports


def test_an_established_connection_survives_the_loss_of_its_node(lab):
    nat = nat_of(lab)
    with server(lab.node('example-web'), 'web', 7001), client(lab.node('app-1'), WEB, 7001) as conn:
        first = ask(conn, 'one')
        port = int(first[1].rpartition(':')[2])
        owner = lab.hyperplane.store.blocks(nat.id)[block_of(port)]
        lab.fail_node(owner)
        try:
            assert owner not in [n for r in lab.shards() for n in r[3]]         # not refilled
            assert ask(conn, 'two')[1] == first[1]                          # same connection, same port
            assert lab.hyperplane.store.blocks(nat.id)[block_of(port)] != owner     # adopted
            assert once(lab.node('app-1'), WEB, 7001)                       # new connections too
        finally:
            lab.restore_node(owner)
        assert ask(conn, 'three')[1] == first[1]
    assert lab.failed_nodes == []
    with server(lab.node('example-web'), 'web', 7002):
        assert once(lab.node('app-1'), WEB, 7002)
