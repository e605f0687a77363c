"""`vpclab trace --wire`: one real packet, and on every host it crosses, the stages it went through by name
with the flow that decided.

The packet is crafted with scapy inside the source instance's namespace (testbed/observe/trace_packet.py;
tcp: a SYN), or, with --from-host, forged: encapsulated as if the source ran on that host and put on the
destination host's cable from the ToR side.  Every host bridge's flow counters (ovs-ofctl dump-flows,
n_packets) are read before and after; the flows whose counters moved are the packet's, each stage's flow on
the side of the host the packet crossed (leaving: CLASSIFY to MAPPING; arriving: CHECK to DELIVER).  Where a
table has more than one such flow (replies, other traffic), `ovs-appctl ofproto/trace` with the packet's
exact fields says which one was the packet's.  A drop flow's cookie gives the reason
(controllers/pipeline.py).

Beyond the bridges (testbed/observe/trace_beyond.py): a flow that sends the packet to an edge node or a
Hyperplane node (tun_dst) is followed there by that process's counters (Blackfoot's drops by reason, the
link it sent on, what it let into a VPC; the node's decision), then to the host the edge sent it into
(its arriving flows) or the outside host (what its interfaces received).  From an outside host (an
internet host, a site's host, S3) the packet is sent from that host's namespace through its kernel's
routes (a raw socket), to an elastic IP, an internet-facing NLB's address or an instance."""
import subprocess
import sys
import time

from controllers import pipeline as P
from testbed.errors import LabError
from testbed.fabric import edge_plan, hyperplane_plan
from testbed.fabric.names import Names, nic_mac
from testbed.observe.flows import dump_flows, parse_flows
from testbed.observe.trace_beyond import (
    appliances,
    delta,
    edge_decision,
    fresh,
    lab_run_dir,
    node_decision,
    received,
    words,
)
from testbed.observe.trace_ends import resolve
from testbed.observe.trace_model import TraceState, public_address
from testbed.observe.trace_model import trace as model_trace
from testbed.observe.trace_ofproto import arrival_fields, ofproto_path, packet_fields
from testbed.observe.trace_outside import OUTSIDE_STAGES
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
    t.model = model
    if model.verdict == 'not-carried':
        t.note('CLASSIFY', None, 'nothing was sent: wire mode sends from an instance\'s or an outside host\'s '
                                 'namespace (or forges a packet from a host)')
        return t.not_carried(model.why)
    if model.verdict == 'dropped' and model.stage == 'CLASSIFY':
        return t.drop('CLASSIFY', None, model.reason, model.steps[-1].detail)
    packet = Packet.of(topo, state, src, dst, probe, from_host)
    beyond = any(s.stage in OUTSIDE_STAGES for s in model.steps)
    run = lab_run_dir(lab)
    boxes = appliances(run) if beyond else {}
    outside = model.steps[-1].host if model.steps[-1].stage == 'OUTSIDE' else None
    rx = received(lab, outside) if outside else None
    before = snapshot(lab)
    packet.send(lab)
    hits, deadline = {}, time.monotonic() + TIMEOUT_S
    time.sleep(SETTLE_S)
    while True:
        now = moved(before, snapshot(lab))
        if now == hits and (now and _ended(now, packet) or beyond) or time.monotonic() > deadline:
            hits = now
            break
        hits = now
        time.sleep(0.2)
    seen = Beyond(delta(boxes, fresh(run, time.time())) if beyond else {},
                  outside, (received(lab, outside) or 0) - rx if rx is not None else None)
    return follow(lab, t, packet, hits, seen)


class Beyond:
    """What the edge and Hyperplane nodes counted (trace_beyond.delta), and the outside destination's
    packets received."""

    def __init__(self, boxes, outside, received):
        self.boxes, self.outside, self.received = boxes, outside, received


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
        end = resolve(topo, src, role='source')
        if end.kind == 'outside':
            b = resolve(topo, dst, role='destination', src=src)
            return cls(outside=end, src=None, dst_ip=public_address(topo, b), target=None, probe=probe,
                       from_host=None, vni=None, proto=PROTOCOLS[probe.protocol], topo=topo)
        src = end.instance.name
        a = state.of_instance(src)
        dst_ip = resolve(topo, dst, role='destination', src=src).ip
        target = state.entry(a['vni'], dst_ip)
        same_subnet = target is not None and target.get('subnet') == a.get('subnet')
        return cls(outside=None, src=a, dst_ip=dst_ip, target=target, probe=probe, from_host=from_host, vni=a['vni'],
                   dst_mac=target['mac'] if target and (same_subnet or from_host) else P.ROUTER_MAC,
                   proto=PROTOCOLS[probe.protocol], encapsulation=topo.encapsulation, topo=topo)

    def command(self):
        if self.outside:
            return [sys.executable, '-m', 'testbed.observe.trace_packet', '--l3', '--src-ip', self.outside.ip,
                    '--dst-ip', self.dst_ip, '--proto', self.proto, '--sport', str(self.probe.sport),
                    '--dport', str(self.probe.port or 0)]
        cmd = [sys.executable, '-m', 'testbed.observe.trace_packet', '--src-mac', self.src['mac'],
               '--dst-mac', self.dst_mac, '--src-ip', self.src['ip'], '--dst-ip', self.dst_ip, '--proto', self.proto,
               '--sport', str(self.probe.sport), '--dport', str(self.probe.port or 0)]
        if self.from_host:
            x, y = self.topo.hosts[self.from_host], self.topo.hosts[self.target['host']]
            cmd += ['--outer-src', x.underlay_ip, '--outer-dst', y.underlay_ip, '--outer-dst-mac', nic_mac(y),
                    '--vni', str(self.vni), '--encapsulation', self.encapsulation]
        return cmd

    def send(self, lab):
        from testbed.commands.inspect import enter
        if self.outside:
            cmd = ['nsenter', *enter(lab.state, self.outside.name), *self.command()]
        elif self.from_host:
            from testbed.fabric.nic_capture import injection_point  # here: it loads Mininet
            iface = injection_point(Names(lab.state.data['prefix']), self.topo.hosts[self.target['host']])
            cmd = [*self.command(), '--iface', iface]
        else:
            cmd = ['nsenter', *enter(lab.state, self.src['instance']), *self.command(), '--iface', 'eth0']
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=30)
        if out.returncode:
            raise LabError(f'the packet could not be sent: {(out.stderr or out.stdout).strip()[-300:]}')


def follow(lab, t, packet, hits, seen=None):
    """The trail from the counters: the leaving side on the sender's host, then the arriving side on the
    host its MAPPING flow sent it to (or the same host), or the edge node or Hyperplane node a flow sent it
    to, and on from there."""
    topo = lab.topology
    if packet.outside:
        t.add('OUTSIDE', packet.outside.name, f'sent from {packet.outside.name}\'s namespace: {packet.outside.ip} -> '
                                              f'{packet.dst_ip} {packet.probe}, by its routes')
        legs = [(None, 'edge-in')]
    elif packet.from_host:
        legs = [(packet.target['host'], 'forged')]
    else:
        legs = [(packet.src['host'], 'leaving')]
    while legs:
        host, side = legs.pop(0)
        if side in ('edge-in', 'edge-out', 'edge-relay'):
            ended = _edge(t, seen, host, side, legs, lab, hits)
            if ended is not None:
                return ended
            continue
        if side == 'node':
            ended = _node(t, seen, host, legs)
            if ended is not None:
                return ended
            continue
        if side == 'outside':
            return _outside(t, seen)
        flows = hits.get(host, {})
        tables = {}
        for key, (f, n) in flows.items():
            if _on_side(key[0], key, side):
                tables.setdefault(key[0], []).append((key, f, n))
        if not tables:
            t.note('CLASSIFY' if side == 'leaving' else 'CHECK', host, 'no flow of this host counted the packet')
            return t.lost(f'the packet was not counted on {host}')
        for table in sorted(tables):
            key, f, n, confirmed = _one(lab, host, table, tables[table], packet, side, t)
            stage = P.stage(table).name
            kind, ident = P.cookie_kind(int(f['cookie'], 16)), P.cookie_ident(int(f['cookie'], 16))
            detail = f'priority {f["priority"]}, {f["match"] or "(all)"} actions={f["actions"]}' + confirmed
            if kind == P.KIND_DROP:
                return t.drop(stage, host, P.DROP_REASONS[ident], detail, flow=_text(f), packets=n)
            t.add(stage, host, detail, flow=_text(f), packets=n)
            if 'tun_dst' in f['actions'] and table in (P.ROUTE_TABLE, P.HYPERPLANE, P.MAPPING):
                there = _host_of(topo, f['actions'])
                legs.append((there, 'arriving' if there in topo.hosts else
                             'node' if there.startswith('hp') else 'edge-out'))
            if legs and (table >= P.EGRESS_COMMIT or table in (P.ROUTE_TABLE, P.HYPERPLANE)):
                break                                      # it left this host by the tunnel
            if table == P.DELIVER:
                return t.reachable()
    return t.lost('the packet was counted, but by no flow that drops or delivers it')


def _edge(t, seen, edge, side, legs, lab, hits):
    """An edge node's leg: what it counted (edge None: whichever counted the packet coming in)."""
    # a relayed packet goes into a VPC or out (the model says which); the replies it causes move the other
    out = t.model.steps[-1].stage == 'OUTSIDE'
    want = {'edge-in': ('drop', 'in'), 'edge-out': ('drop', 'link'),
            'edge-relay': ('drop', 'link', 'relayed') if out else ('drop', 'relayed', 'link')}[side]
    found = [(name, edge_decision(moved, want), moved) for name, moved in sorted(seen.boxes.items())
             if name.startswith('edge') and (edge is None or name == edge)]
    found = [x for x in found if x[1] is not None]
    if not found and side == 'edge-in' and t.model.stage == 'OUTSIDE':       # a site's router had no route
        return t.drop('OUTSIDE', t.model.host, t.model.reason, f'no edge node counted it: {t.model.steps[-1].detail}')
    if not found:
        t.note('EDGE', edge, 'the edge counted nothing of it')
        return t.lost(f'the packet was not counted on {edge or "any edge node"}')
    name, (kind, what), moved = found[0]
    counted = f'Blackfoot counted {words(moved)}'
    if kind == 'drop':
        return t.drop('EDGE', name, what, counted, packets=moved.get(f'drop:{what}'))
    if kind == 'link':
        t.add('EDGE', name, f'out of the {what} link: {counted}', packets=moved.get(f'out:{what}'))
        legs.append((seen.outside, 'outside'))
        return None
    node = _door(t, seen) if side == 'edge-in' else None
    if node is not None:                # an internet-facing NLB's elastic IP: Blackfoot's door to a node
        t.add('EDGE', name, f'in ({what}), to Hyperplane node {node}: {counted}', packets=moved.get(what))
        legs.append((node, 'node'))
        return None
    t.add('EDGE', name, f'into the VPC ({what}): {counted}', packets=moved.get(what))
    there = _arrival_host(lab, t, hits)
    if there is None:
        return t.lost(f'{name} let it into the VPC, but no host\'s arriving flows counted it')
    legs.append((there, 'arriving-edge'))
    return None


def _door(t, seen):
    """The Hyperplane node an edge sent a packet from outside to, when the model's packet goes to one
    (the edge counts no door of its own): the model's node, if it counted the traced packet, else any
    node that did."""
    stages = [s.stage for s in t.model.steps]
    if 'HYPERPLANE_NODE' not in stages or 'HYPERPLANE' in stages:
        return None
    expected = t.model.steps[stages.index('HYPERPLANE_NODE')].host
    if node_decision(seen.boxes.get(expected, {})) is not None:
        return expected
    return next((n for n, moved in sorted(seen.boxes.items()) if n.startswith('hp') and node_decision(moved)), expected)


def _arrival_host(lab, t, hits):
    """The host whose arriving flows took the packet from the edge: the model's, if its flows moved, else
    the one whose CHECK flows counted most."""
    moved = {h: sum(n for k, (f, n) in flows.items() if k[0] == P.CHECK) for h, flows in hits.items()}
    moved = {h: n for h, n in moved.items() if n}
    expected = t.model.arrival[2] if getattr(t.model, 'arrival', None) else None
    if expected in moved:
        return expected
    return max(moved, key=moved.get) if moved else None


def _node(t, seen, node, legs):
    moved = seen.boxes.get(node, {})
    d = node_decision(moved)
    if d is None:
        t.note('HYPERPLANE_NODE', node, 'the node counted nothing of it')
        return t.lost(f'the packet was not counted on Hyperplane node {node}')
    kind, what = d
    if kind == 'drop':
        return t.drop('HYPERPLANE_NODE', node, what, f'{node} counted {words(moved)}',
                      packets=moved.get('traced:reply' if what == 'reset' else f'traced:drop:{what}'))
    t.add('HYPERPLANE_NODE', node, f'{node} counted {what}; to edge1', packets=1)
    legs.append(('edge1', 'edge-relay'))
    return None


def _outside(t, seen):
    host, n = seen.outside, seen.received
    if not n:
        t.note('OUTSIDE', host, 'its interfaces received nothing')
        return t.lost(f'the edge sent it out, but {host} received nothing')
    t.add('OUTSIDE', host, f'its interfaces received {n} packet(s) (the packet; an ARP request too if its '
                           'router asked)', packets=n)
    return t.reachable()


def _on_side(table, key, side):
    if table == P.FLOW_LOG:
        return False
    if side == 'arriving-edge':
        return table in ARRIVING
    if side == 'leaving':
        return table in LEAVING or table in ARRIVING and table != P.CHECK
    if table == P.CLASSIFY:
        return 'in_port=60000' in key[3]
    return table in ARRIVING


def _one(lab, host, table, found, packet, side, t):
    """The one flow of `table` that was the packet's; ofproto/trace decides when counters cannot."""
    if len(found) == 1:
        return (*found[0], '')
    if side == 'arriving-edge':
        arrival = getattr(t.model, 'arrival', None)
        fields = arrival_fields(lab.topology, host, arrival) if arrival and arrival[2] == host else None
    else:
        fields = packet_fields(packet, side, lab.topology, host)
    path = ofproto_path(lab.bridge(host), fields) if fields else set()
    for key, f, n in found:
        if (key[0], key[1], key[2], key[3]) in path:
            return key, f, n, f' (of {len(found)} flows counted here, ofproto/trace names this one)'
    key, f, n = max(found, key=lambda x: x[2])
    return key, f, n, f' (of {len(found)} flows counted here, ofproto/trace named none: the busiest)'


def _host_of(topo, actions):
    """The physical host, edge node ('edge<k>') or Hyperplane node ('hp<k>') a flow's tun_dst names."""
    ip = actions.split('->tun_dst')[0].rsplit(':', 1)[-1]
    edges = {edge_plan.edge_ip(k): f'edge{k}' for k in range(1, edge_plan.edge_count(topo) + 1)}
    nodes = {n.ip: n.name for n in hyperplane_plan.nodes(topo)}
    return next((h.name for h in topo.hosts.values() if h.underlay_ip == ip), None) or edges.get(ip) or \
        nodes.get(ip, ip)


def _text(f):
    return f'table={f["table"]}, priority={f["priority"]}, cookie={f["cookie"]}, {f["match"]} actions={f["actions"]}'
