"""`vpclab trace --wire`: one real packet, and on every host it crosses, the stages it went through by name
with the flow that decided.

The packet is crafted with scapy inside the source instance's namespace (testbed/observe/trace_packet.py;
tcp: a SYN), or, with --from-host, forged: encapsulated as if the source ran on that host and put on the
destination host's cable from the ToR side.  Every host bridge's flow counters (ovs-ofctl dump-flows,
n_packets) are read before and after; the flows whose counters moved are the packet's, each stage's flow on
the side of the host the packet crossed (leaving: CLASSIFY to MAPPING; arriving: CHECK to DELIVER).  Where a
table has more than one such flow (replies, other traffic), `ovs-appctl ofproto/trace` with the packet's
exact fields says which one was the packet's.  A drop flow's cookie gives the reason
(controllers/pipeline.py)."""
import subprocess
import sys
import time

from controllers import pipeline as P
from testbed.errors import LabError
from testbed.fabric.names import Names, nic_mac
from testbed.observe.flows import dump_flows, parse_flows
from testbed.observe.trace_ends import resolve
from testbed.observe.trace_model import SPORT, TraceState
from testbed.observe.trace_model import trace as model_trace
from testbed.observe.trace_ofproto import ofproto_path, packet_fields
from testbed.observe.trace_rules import PROTOCOLS
from testbed.observe.trace_verdict import Trace

ROOT = __file__.rsplit('/testbed/', 1)[0]
LEAVING = range(P.CLASSIFY, P.CHECK)                   # the sender's host: CLASSIFY .. EGRESS_COMMIT
ARRIVING = range(P.CHECK, P.FLOW_LOG)                  # the receiver's host: CHECK .. DELIVER
SETTLE_S, TIMEOUT_S = 0.3, 4.0


def snapshot(lab):
    """{host: {flow key: flow}} of every host bridge (key: table, priority, cookie, match)."""
    out = {}
    for host in lab.topology.hosts:
        flows = parse_flows(dump_flows(lab.bridge(host)))
        out[host] = {(int(f['table']), f['priority'], f['cookie'], f['match']): f for f in flows}
    return out


def moved(before, after):
    """{host: {key: (flow, packets)}} of the flows whose counters moved."""
    out = {}
    for host, flows in after.items():
        for key, f in flows.items():
            delta = f['n_packets'] - before.get(host, {}).get(key, {'n_packets': 0})['n_packets']
            if delta > 0:
                out.setdefault(host, {})[key] = (f, delta)
    return out


def trace_wire(lab, src, dst, probe, from_host=None):
    topo = lab.topology
    state = TraceState.of_lab(lab)
    model = model_trace(topo, state, src, dst, probe, from_host)     # the packet's fields, and ends
    t = Trace(model.src, model.dst, probe, 'wire', 'one real packet, flow counters of every host bridge')
    if model.verdict == 'not-carried':
        t.note('CLASSIFY', None, 'nothing was sent: wire mode sends only from an instance\'s namespace (or forges '
                                 'one from a host)')
        return t.not_carried(model.why)
    if model.verdict == 'dropped' and model.stage == 'CLASSIFY':
        return t.drop('CLASSIFY', None, model.reason, model.steps[-1].detail)
    packet = Packet.of(topo, state, src, dst, probe, from_host)
    before = snapshot(lab)
    packet.send(lab)
    hits, deadline = {}, time.monotonic() + TIMEOUT_S
    time.sleep(SETTLE_S)
    while True:
        now = moved(before, snapshot(lab))
        if now == hits and now and _ended(now, packet) or time.monotonic() > deadline:
            hits = now
            break
        hits = now
        time.sleep(0.2)
    return follow(lab, t, packet, hits)


def _ended(hits, packet):
    """Has the packet's fate been counted: a drop or a delivery on a host it crossed?"""
    return any(P.cookie_kind(int(k[2], 16)) == P.KIND_DROP or k[0] == P.DELIVER
               for flows in hits.values() for k in flows)


class Packet:
    """What is sent: the frame's fields, where it enters (an instance port, or a host's cable)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    @classmethod
    def of(cls, topo, state, src, dst, probe, from_host):
        a = state.of_instance(src)
        dst_ip = resolve(topo, dst, role='destination', src=src).ip
        target = state.entry(a['vni'], dst_ip)
        same_subnet = target is not None and target.get('subnet') == a.get('subnet')
        return cls(src=a, dst_ip=dst_ip, target=target, probe=probe, from_host=from_host, vni=a['vni'],
                   dst_mac=target['mac'] if target and (same_subnet or from_host) else P.ROUTER_MAC,
                   proto=PROTOCOLS.get(probe.protocol, 'icmp'), encapsulation=topo.encapsulation, topo=topo)

    def command(self):
        cmd = [sys.executable, '-m', 'testbed.observe.trace_packet', '--src-mac', self.src['mac'],
               '--dst-mac', self.dst_mac, '--src-ip', self.src['ip'], '--dst-ip', self.dst_ip, '--proto', self.proto,
               '--sport', str(SPORT), '--dport', str(self.probe.port or 0)]
        if self.from_host:
            x, y = self.topo.hosts[self.from_host], self.topo.hosts[self.target['host']]
            cmd += ['--outer-src', x.underlay_ip, '--outer-dst', y.underlay_ip, '--outer-dst-mac', nic_mac(y),
                    '--vni', str(self.vni), '--encapsulation', self.encapsulation]
        return cmd

    def send(self, lab):
        from testbed.commands.inspect import enter
        if self.from_host:
            iface = Names(lab.state.data['prefix']).tor_port(self.topo.hosts[self.target['host']])
            cmd = [*self.command(), '--iface', iface]
        else:
            cmd = ['nsenter', *enter(lab.state, self.src['instance']), *self.command(), '--iface', 'eth0']
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=30)
        if out.returncode:
            raise LabError(f'the packet could not be sent: {(out.stderr or out.stdout).strip()[-300:]}')


def follow(lab, t, packet, hits):
    """The trail from the counters: the leaving side on the sender's host, then the arriving side on the
    host its MAPPING flow sent it to (or the same host)."""
    topo = lab.topology
    legs = [(packet.from_host and packet.target['host'], 'forged')] if packet.from_host else \
        [(packet.src['host'], 'leaving')]
    while legs:
        host, side = legs.pop(0)
        flows = hits.get(host, {})
        tables = {}
        for key, (f, n) in flows.items():
            if _on_side(key[0], key, side):
                tables.setdefault(key[0], []).append((key, f, n))
        if not tables:
            t.note('CLASSIFY' if side == 'leaving' else 'CHECK', host, 'no flow of this host counted the packet')
            return t.lost(f'the packet was not counted on {host}')
        for table in sorted(tables):
            key, f, n, confirmed = _one(lab, host, table, tables[table], packet, side)
            stage = P.stage(table).name
            kind, ident = P.cookie_kind(int(f['cookie'], 16)), P.cookie_ident(int(f['cookie'], 16))
            detail = f'priority {f["priority"]}, {f["match"] or "(all)"} actions={f["actions"]}' + confirmed
            if kind == P.KIND_DROP:
                return t.drop(stage, host, P.DROP_REASONS[ident], detail, flow=_text(f), packets=n)
            t.add(stage, host, detail, flow=_text(f), packets=n)
            if table == P.MAPPING and 'tun_dst' in f['actions']:
                legs.append((_host_of(topo, f['actions']), 'arriving'))
            if legs and table >= P.EGRESS_COMMIT:          # it left this host by the tunnel
                break
            if table == P.DELIVER:
                return t.reachable()
    return t.lost('the packet was counted, but by no flow that drops or delivers it')


def _on_side(table, key, side):
    if table == P.FLOW_LOG:
        return False
    if side == 'leaving':
        return table in LEAVING or table in ARRIVING and table != P.CHECK
    if table == P.CLASSIFY:
        return 'in_port=60000' in key[3]
    return table in ARRIVING


def _one(lab, host, table, found, packet, side):
    """The one flow of `table` that was the packet's; ofproto/trace decides when counters cannot."""
    if len(found) == 1:
        return (*found[0], '')
    path = ofproto_path(lab.bridge(host), packet_fields(packet, side, lab.topology, host))
    for key, f, n in found:
        if (key[0], key[1], key[2], key[3]) in path:
            return key, f, n, f' (of {len(found)} flows counted here, ofproto/trace names this one)'
    key, f, n = max(found, key=lambda x: x[2])
    return key, f, n, f' (of {len(found)} flows counted here, ofproto/trace named none: the busiest)'


def _host_of(topo, actions):
    ip = actions.split('->tun_dst')[0].rsplit(':', 1)[-1]
    return next((h.name for h in topo.hosts.values() if h.underlay_ip == ip), ip)


def _text(f):
    return f'table={f["table"]}, priority={f["priority"]}, cookie={f["cookie"]}, {f["match"]} actions={f["actions"]}'
