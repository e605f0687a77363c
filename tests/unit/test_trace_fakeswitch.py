"""The model of `vpclab trace` against the flows the controller's virtual routers produce for the same
topology file, evaluated by the fake switch (tests/unit/fakeswitch.py): for every pair of instances and a
few protocols, the model's verdict and dropping stage are what the flows do to the packet."""
import os

import pytest
from fakeswitch import FakeSwitch

from controllers import pipeline as P
from controllers.mapping_table import MappingTable
from controllers.router.hyperplane import Hyperplane
from controllers.router.security_groups import SecurityGroupBook
from controllers.router.virtual_router import VirtualRouter
from testbed.commands.trace import probe
from testbed.fabric.controller import controller_config
from testbed.fabric.names import Names
from testbed.observe.trace_model import TraceState, trace
from testbed.observe.trace_outside import OUTSIDE_STAGES
from testbed.topology import load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBES = ('icmp', 'tcp/80', 'tcp/22', 'udp/6000')


class Fabric:
    """One virtual router and fake switch per host of the file, told what the mapping service tells them."""

    def __init__(self, topo, failed=()):
        cfg = controller_config(topo, Names(), 0, '/nonexistent')
        hyperplane = Hyperplane(cfg['hyperplane'], {i['instance']: i['ip'] for i in cfg['instances']}, failed)
        hosts = {h['name']: h['underlay_ip'] for h in cfg['hosts']}
        peers = {int(v): set(p) for v, p in cfg['peers'].items()}
        self.table = MappingTable(hosts, peers, topo.mode)
        book = SecurityGroupBook({v['vni']: v['security_groups'] for v in cfg['vpcs']})
        for inst in cfg['instances']:
            self.table.register(**{**inst, 'security_groups': tuple(inst['security_groups'])})
        self.switches = {}
        for h in cfg['hosts']:
            r = VirtualRouter(dict(name=h['name'], underlay_ip=h['underlay_ip']), self.table.peers, topo.mode,
                              cfg['subnets'], hyperplane=hyperplane)
            sw = self.switches[h['name']] = FakeSwitch().apply(r.start())
            for inst in cfg['instances']:
                sw.apply(r.port_added(inst['port_name'], int(inst['port_name'][len('vl_i'):])))
            plan = self.table.plan(h['name'])
            plan.security_groups, plan.group_members = book.changes_for(h['name'], self.table.entries())
            sw.apply(r.apply(plan))
        self.hosts = {ip: name for name, ip in hosts.items()}

    def first(self, src, dst_ip, p):
        """(the sender's entry, the packet's fields, its journey on the sender's host)."""
        e = self.table.entry_of(src)
        l4 = {} if p.port is None else {f'{"tcp" if p.protocol == 6 else "udp"}_{k}': v
                                         for k, v in (('src', p.sport), ('dst', p.port))}
        fields = dict(in_port=int(e.port_name[len('vl_i'):]), eth_src=e.mac, eth_dst=P.ROUTER_MAC, eth_type=0x0800,
                      ipv4_src=e.ip, ipv4_dst=dst_ip, ip_proto=p.protocol, **l4)
        return e, fields, self.switches[e.host].send(**fields)

    def key(self, src, dst_ip, p):
        """(verdict, stage, host, reason) of the packet through the flows, both hosts."""
        e, fields, j = self.first(src, dst_ip, p)
        host = e.host
        if j.outputs and j.outputs[0][0] == P.TUNNEL_PORT:
            inner = j.outputs[0][1]
            host = self.hosts[j.field('tun_ipv4_dst')]
            arrive = {k: v for k, v in inner.items() if k in (*fields, 'eth_dst')}
            j = self.switches[host].send(**{**arrive, 'in_port': P.TUNNEL_PORT, 'tunnel_id': inner['tunnel_id'],
                                            'tun_ipv4_src': e.host_ip, 'eth_type': 0x0800})
        if j.outputs:
            return 'reachable', None, None, None
        reason, _, stage = j.verdict.removeprefix('dropped: ').partition(' at ')
        return 'dropped', stage, host, reason


@pytest.mark.parametrize('name', ['firewall.yaml', 'peering.yaml', 'isolation.yaml', 'default.yaml', 'edge.yaml'])
def test_the_model_says_what_the_flows_do(name):
    topo = load(os.path.join(ROOT, 'topologies', name))
    fabric, state = Fabric(topo), TraceState.of_topology(topo)
    compared = 0
    for a in topo.instances():
        for b in topo.instances():
            for text in PROBES:
                t = trace(topo, state, a.name, b.name, probe(text))
                beyond = any(s.stage in OUTSIDE_STAGES for s in t.steps)     # a Hyperplane node, the edge
                if a.name == b.name or beyond or t.verdict not in ('reachable', 'dropped', 'elsewhere'):
                    continue
                want = ('reachable', None, None, None) if t.verdict == 'elsewhere' else t.key
                assert fabric.key(a.name, b.ip, probe(text)) == want, (a.name, b.name, text, t.explanation())
                compared += 1
    assert compared > 20
