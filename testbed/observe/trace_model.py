"""`vpclab trace` without a packet: each stage's decision for one packet, in journey order
(docs/journey.md), from the topology and the controller's state (or the topology file alone), with the
rule, route or mapping that decided, and the verdict.

The decisions are the controller's own pure stage logic (testbed/observe/trace_rules.py, shared with the
reachability matrix); the state is what the mapping service holds (where each instance runs, its MAC and
groups), what each host's cache holds and the security groups as they are now (TraceState.of_lab), or
what the file says (TraceState.of_topology).  The model traces the first packet of a new connection."""
from dataclasses import dataclass, field

from controllers.pipeline import ROUTER_MAC
from testbed.appliances import packets as p
from testbed.errors import UsageError
from testbed.fabric import edge_plan, hyperplane_plan
from testbed.observe.trace_ends import End, resolve
from testbed.observe.trace_outside import Forward, World, endpoints, node_words, packet, reply
from testbed.observe.trace_rules import (
    PING,
    Decision,
    Probe,
    acl_decision,
    group_decision,
    hyperplane_address,
    inside,
    membership,
    node_choice,
    route_choice,
)
from testbed.observe.trace_verdict import Step, Trace, gateway_words


@dataclass
class TraceState:
    """entries: the mapping service's table (dicts: vni, ip, host, host_ip, mac, eni, instance,
    security_groups); groups: {vpc: {group: rules}} (empty: the file's); caches: {host: {(vni, ip)}}
    (None: not known, e.g. from the file alone); source: where it comes from, for people; failed: the
    Hyperplane nodes that have failed."""
    entries: list
    groups: dict = field(default_factory=dict)
    caches: dict | None = None
    source: str = 'the topology file'
    mode: str = 'proactive'
    failed: tuple = ()

    @classmethod
    def of_topology(cls, topo):
        entries = [dict(vni=topo.vpcs[i.vpc].vni, ip=i.ip, host=i.host, host_ip=topo.hosts[i.host].underlay_ip,
                        mac=i.mac, eni=i.eni, instance=i.name, security_groups=tuple(i.security_groups))
                   for i in topo.instances()]
        return cls(entries, source=f'the topology file {topo.path}', mode=topo.mode)

    @classmethod
    def of_lab(cls, lab):
        topo, api = lab.topology, lab.api
        groups = {v.name: {g: api.security_group(v.name, g) for g in v.security_groups} for v in topo.vpcs.values()}
        caches = {h: {(e['vni'], e['ip']) for e in api.cache(h)['cache']} for h in topo.hosts}
        failed = tuple(api.hyperplane()['failed']) if hyperplane_plan.needed(topo) else ()
        return cls(api.mappings(), groups, caches, 'the running lab (management API)', topo.mode, failed)

    def entry(self, vni, ip):
        return next((e for e in self.entries if e['vni'] == vni and e['ip'] == ip), None)

    def of_instance(self, name):
        return next((e for e in self.entries if e['instance'] == name), None)


def trace(topo, state, src, dst, probe=PING, from_host=None):
    """The Trace of a packet from SRC to DST (names or addresses, testbed/observe/trace_ends.py).
    from_host: the packet arrives encapsulated from that physical host, as if SRC ran there (forged)."""
    a, b = resolve(topo, src, role='source'), resolve(topo, dst, role='destination', src=src)
    t = Trace(src, dst, probe, 'model', state.source)
    if a.kind != 'instance':
        if from_host is not None:
            raise UsageError('--from-host forges a packet of an instance; SRC is none')
        return _from_outside(topo, state, t, a, b, probe)
    return _from_instance(topo, state, t, a, b, probe, from_host)


def _from_instance(topo, state, t, a, b, probe, from_host):
    inst, vpc = a.instance, topo.vpcs[a.instance.vpc]
    e = state.of_instance(inst.name)
    if e is None:
        return t.drop('CLASSIFY', None, 'unknown-port', f'{inst.name} runs on no host of the lab')
    here = e['host']
    members = membership(state.entries)
    if from_host is None:
        t.add('CLASSIFY', here, f'{inst.name}\'s port: source {a.ip} / {e["mac"]} is its own; VPC {vpc.name} '
                                f'(VNI {vpc.vni}), ENI {e["eni"]}, subnet {inst.subnet}')
        subnet = vpc.subnets[inst.subnet]
        if not inside(subnet, b.ip):
            t.note('ARP', here, f'{b.ip} is outside {inst.subnet}: {inst.name} sends to the VPC router '
                                f'{subnet.gateway_ip}, answered on {here} with {ROUTER_MAC}')
        else:
            known = state.entry(vpc.vni, b.ip)
            answered = next((r for r in hyperplane_plan.resources(topo)
                             if r.kind in ('nlb', 'endpoint') and r.vpc == vpc.name and b.ip in r.ips), None)
            t.note('ARP', here, f'{b.ip} answered on {here} with {known["mac"]}' if known else
                   f'{b.ip} ({_named(answered)}) answered on {here} with {ROUTER_MAC}' if answered else
                   f'no instance has {b.ip}: {here} would not answer ARP (arp-unknown-target); traced as if '
                   f'{inst.name} sent the packet anyway')
        sg = group_decision(vpc, state.groups.get(vpc.name), e['security_groups'], 'outbound', probe, b.ip, members)
        if not t.decide('EGRESS_SG_RULES', here, sg, 'security-group'):
            return t
        if inside(subnet, b.ip):
            t.add('EGRESS_NACL', here, f'{b.ip} is inside {inst.subnet}: its network ACL is not applied')
        elif not t.decide('EGRESS_NACL', here, acl_decision(vpc, inst.subnet, 'outbound', probe, b.ip),
                          'network-acl'):
            return t
        served = hyperplane_address(topo, vpc.name, b.ip, probe)
        if served is not None:
            t.add('ROUTE_TABLE', here, f'{b.ip} {probe} is {_named(served)}\'s listener: to Hyperplane, above '
                                       'every route')
            return _to_hyperplane(topo, state, t, here, served, a, b, probe, e)
        r = route_choice(topo, vpc.name, inst.subnet, b.ip)
        where = f'(rtb {r.table.name})'
        if r.route is None:
            return t.drop('ROUTE_TABLE', here, 'no-route', f'no route of {r.table.name} covers {b.ip} {where}')
        said = f'{r.route.destination} -> {r.route.target} {where}'
        if r.reason:
            extra = f': {gateway_words(topo, vpc, r.route.target)}' if r.reason == 'target-not-built' else ''
            return t.drop('ROUTE_TABLE', here, r.reason, said + extra)
        if r.hyperplane is not None:
            t.add('ROUTE_TABLE', here, said)
            return _to_hyperplane(topo, state, t, here, r.hyperplane, a, b, probe, e)
        if r.vpc is None:
            return _to_edge(topo, state, t, here, a, b, probe, e, r.route, said)
        t.add('ROUTE_TABLE', here, said)
        there = topo.vpcs[r.vpc]
        target = state.entry(there.vni, b.ip)
        if target is None:
            what = f' ({b.what})' if b.what else ''
            return t.drop('MAPPING', here, 'no-mapping', f'no instance has {b.ip} in VPC {there.name}{what}')
        cached = '' if state.caches is None else (
            f', in {here}\'s cache' if (there.vni, b.ip) in state.caches.get(here, ()) else
            f', not in {here}\'s cache: a miss asks the mapping service' if state.mode == 'reactive' else
            f', NOT in {here}\'s cache (proactive: it should be)')
        remote = target['host'] != here
        t.add('MAPPING', here, f'{b.ip} -> {target["instance"]} on {target["host"]} ({target["host_ip"]}), '
                               f'MAC {target["mac"]}, VNI {vpc.vni}{cached}'
                               + (f'; {topo.encapsulation} to {target["host_ip"]}' if remote else '; local'))
        t.note('EGRESS_COMMIT', here, f'the new connection is tracked in {e["eni"]}\'s zone')
        outer = here
    else:
        if from_host not in topo.hosts:
            raise UsageError(f'no physical host {from_host!r}; hosts are: {", ".join(topo.hosts)}')
        target = state.entry(vpc.vni, b.ip) if b.kind == 'instance' else None
        if target is None:
            raise UsageError('--from-host forges a packet to an instance of SRC\'s VPC; DST is not one')
        t.note('CLASSIFY', from_host, f'forged: an encapsulated packet from {from_host} '
                                      f'({topo.hosts[from_host].underlay_ip}), VNI {vpc.vni}, inner source '
                                      f'{a.ip} / {e["mac"]}, put on {target["host"]}\'s cable: no virtual router '
                                      'sent it')
        outer, remote = from_host, True
    return _arrive(topo, state, t, a, b, e, target, probe, outer, remote, members)


def _named(resource):
    return {'nat': 'NAT gateway', 'nlb': 'load balancer', 'endpoint': 'interface endpoint'}[resource.kind] + \
        f' {resource.name}'


def _arrive(topo, state, t, a, b, e, target, probe, outer, remote, members):
    """The receiving side: the check (if it came through the fabric), the ENI, its ACL and groups."""
    there = target['host']
    if remote:
        if e['host'] != outer:
            return t.drop('CHECK', there, 'unregistered-source',
                          f'{a.ip} (VNI {e["vni"]}) runs on {e["host"]} '
                          f'({topo.hosts[e["host"]].underlay_ip}), but the packet came from {outer} '
                          f'({topo.hosts[outer].underlay_ip})')
        t.add('CHECK', there, f'{a.ip} / {e["mac"]} (VNI {e["vni"]}) is registered on {outer}')
    inst = _receive(topo, state, t, a.ip, target, probe, members)
    if inst is None:
        return t
    _reply(topo, t, a.instance, inst, probe)
    if b.kind == 'instance' and inst.name != b.name:
        return t.elsewhere(f'delivered to {inst.name} (VPC {inst.vpc}), not to {b.name}: {b.ip} is {inst.name}\'s '
                           f'where {a.name}\'s route table sends it')
    return t.reachable()


def _receive(topo, state, t, src_ip, target, probe, members):
    """DESTINATION to DELIVER on the target's host for a packet from `src_ip`: the instance, None if dropped."""
    there = target['host']
    inst = topo.instance(target['instance'])
    vpc = topo.vpcs[inst.vpc]
    t.add('DESTINATION', there, f'{target["eni"]} of {inst.name}, subnet {inst.subnet}')
    if inside(vpc.subnets[inst.subnet], src_ip):
        t.add('INGRESS_NACL', there, f'{src_ip} is inside {inst.subnet}: its network ACL is not applied')
    elif not t.decide('INGRESS_NACL', there, acl_decision(vpc, inst.subnet, 'inbound', probe, src_ip),
                      'network-acl'):
        return None
    sg = group_decision(vpc, state.groups.get(vpc.name), target['security_groups'], 'inbound', probe, src_ip,
                        members)
    if not t.decide('INGRESS_SG_RULES', there, sg, 'security-group'):
        return None
    t.add('DELIVER', there, f'to {inst.name}\'s port')
    return inst


def _reply(topo, t, a, b, probe):
    """The ACLs are stateless: the reply must pass them too, and find its route back (a note only)."""
    back = _back(probe)
    va, vb = topo.vpcs[a.vpc], topo.vpcs[b.vpc]
    checks = []
    if not inside(vb.subnets[b.subnet], a.ip):
        checks.append(('EGRESS_NACL', b.host, acl_decision(vb, b.subnet, 'outbound', back, a.ip)))
    r = route_choice(topo, b.vpc, b.subnet, a.ip)
    checks.append(('ROUTE_TABLE', b.host, _route_back(r, a)))
    if not inside(va.subnets[a.subnet], b.ip):
        checks.append(('INGRESS_NACL', a.host, acl_decision(va, a.subnet, 'inbound', back, b.ip)))
    bad = next(((stage, host, d) for stage, host, d in checks if not d.allow), None)
    t.reply = 'the reply passes the ACLs and finds its route back' if bad is None else \
        f'the reply ({back} to {a.ip}) would be dropped at {bad[0]} on {bad[1]}: {bad[2].why}'


def _route_back(r, a):
    if r.route is None:
        return Decision(False, f'no route back to {a.ip}')
    return Decision(r.reason is None and r.vpc == a.vpc, f'{r.route.destination} -> {r.route.target}')


# ---- out of the VPC: Blackfoot, the Hyperplane nodes, the outside networks (trace_outside.py) -------

def _to_hyperplane(topo, state, t, here, resource, a, b, probe, e):
    """HYPERPLANE: the node of the resource's shard that the flow's bucket goes to, then that node's decision."""
    c = node_choice(resource, a.ip, probe.sport if probe.port is not None else None, state.failed)
    shard = ', '.join(resource.shard)
    if c.node is None:
        return t.drop('HYPERPLANE', here, 'no-live-node', f'every node of {_named(resource)}\'s shard ({shard}) '
                                                          'has failed')
    ip = next(n.ip for n in hyperplane_plan.nodes(topo) if n.name == c.node)
    t.add('HYPERPLANE', here, f'bucket {c.bucket} of {_named(resource)} -> {c.node} ({ip}), of its live nodes '
                              f'{", ".join(c.live)} (shard {shard}); {topo.encapsulation} VNI {resource.vni}')
    t.note('EGRESS_COMMIT', here, f'the new connection is tracked in {e["eni"]}\'s zone')
    w = World(topo, state.entries, state.failed)
    return _through_node(topo, state, w, t, c.node, resource.vni, packet(a.ip, b.ip, probe), b, probe)


def _to_edge(topo, state, t, here, a, b, probe, e, route, said):
    """A route to igw, vgw, dx: or vpce: sends the packet to an edge node: Blackfoot's decision, then the
    outside network's."""
    w = World(topo, state.entries, state.failed)
    vpc = topo.vpcs[a.instance.vpc]
    edge = w.edge_of(route.target, a.ip)
    t.add('ROUTE_TABLE', here, f'{said}: leaves {vpc.name}, {topo.encapsulation} VNI {vpc.vni} to {edge} '
                               f'({_edge_ip(edge)})')
    t.note('EGRESS_COMMIT', here, f'the new connection is tracked in {e["eni"]}\'s zone')
    return _beyond(topo, state, w, t, edge, w.outbound(edge, vpc.vni, packet(a.ip, b.ip, probe)),
                   packet(a.ip, b.ip, probe), b, probe)


def _from_outside(topo, state, t, a, b, probe):
    """From an outside host (the internet's, a site's, S3) through its router and the edge; an elastic IP
    sends as its instance."""
    if a.kind == 'load-balancer':
        return t.not_carried(f'{a.label} sends to its targets from Hyperplane nodes: trace a client to it')
    if a.kind == 'elastic-ip':
        if a.instance is None:
            return t.not_carried(f'{a.label} is no instance\'s: trace from an instance behind it')
        return _from_instance(topo, state, t, End('instance', a.instance.name, a.instance.ip, a.instance), b,
                              probe, None)
    if b.kind == 'outside':
        return t.not_carried(f'{a.label} and {b.label} are both outside: their traffic never enters a VPC')
    link, router, why = _way_in(topo, a, b)
    if link is None:
        return t.drop('OUTSIDE', router, 'no-route', why)
    dst = public_address(topo, b)
    pkt = packet(a.ip, dst, probe)
    t.add('OUTSIDE', a.name, f'{a.name} sends {endpoints(pkt)}; {router} sends it on to the edge (its {link} link)')
    w = World(topo, state.entries, state.failed)
    edge = w.entering(link)
    return _beyond(topo, state, w, t, edge, w.inbound(edge, link, pkt), pkt, b, probe)


def _way_in(topo, a, b):
    """(the edge's link an outside host's packet to `b` comes in by, its router, why not)."""
    if a.name in topo.outside.internet:
        return 'internet', 'the internet router', ''
    if a.name == topo.services.s3_host:
        return 'services', 'the services network', ''
    site = topo.outside.sites[topo.outside.hosts()[a.name].site]
    where = _vpc_subnet(topo, b)
    if where is None:
        return None, site.name, f'{site.name}\'s router has no route to {b.ip}: only VPC subnets whose route tables ' \
                                'send the site back by vgw or dx: are routed'
    vpc, subnet = where
    r = route_choice(topo, vpc.name, subnet, a.ip)
    target = r.route.target if r.route else None
    conn = next((c for c in vpc.vpn_connections.values() if c.site == site.name), None)
    if target == 'vgw' and conn is not None:
        return f'vpn:{conn.id}', f'{site.name}\'s router by policy (the subnet routes the site by vgw), ' \
                                 f'{site.vpn_router} (ESP)', ''
    if target and target.startswith('dx:'):
        return target, f'{site.name}\'s router by policy (the subnet routes the site by {target}), {site.dx_router}', ''
    return None, site.name, f'{subnet}\'s route table ({r.table.name}) sends {a.ip} by ' \
                            f'{target or "no route"}, not by vgw or dx: so {site.name}\'s router has no way to {b.ip}'


def _vpc_subnet(topo, b):
    """(VPC, subnet name) of an instance's or a load balancer's address `b`, which a site's router routes
    by the subnet's route table (edge_plan's policy rules), or None."""
    if b.instance is not None and b.ip == b.instance.ip:
        return topo.vpcs[b.instance.vpc], b.instance.subnet
    if b.kind == 'load-balancer':
        vpc = next(v for v in topo.vpcs.values() if b.name in v.load_balancers)
        return vpc, vpc.load_balancers[b.name].addresses[0].subnet
    return None


def public_address(topo, b):
    """The address an outside host sends to: an internet-facing NLB's elastic IP, else b's own."""
    if b.kind == 'load-balancer':
        lb = next(v.load_balancers[b.name] for v in topo.vpcs.values() if b.name in v.load_balancers)
        return lb.addresses[0].public_ip or b.ip
    return b.ip


def _beyond(topo, state, w, t, edge, h, sent, b, probe):
    """What became of `sent` on edge node `edge` (h: its Hop), and after."""
    if h.kind == 'drop':
        return t.drop('EDGE', edge, h.reason,
                      f'Blackfoot drops {endpoints(sent)}: {EDGE_WORDS.get(h.reason, h.reason)}')
    if h.kind == 'link':
        out = w.unsealed(edge, h)
        t.add('EDGE', edge, f'{_rewrite(topo, sent, out)}; out of the {h.link} link')
        return _outside(topo, state, w, t, h.link, out, sent, b, probe)
    kind, name = w.host_at(h.host_ip)
    if kind == 'node':
        t.add('EDGE', edge, f'{_rewrite(topo, sent, h.packet)}; to Hyperplane node {name} ({h.host_ip}), VNI {h.vni}')
        return _through_node(topo, state, w, t, name, h.vni, h.packet, b, probe)
    src, dst = (p.ip4_text(x) for x in (h.packet[12:16], h.packet[16:20]))
    target = state.entry(h.vni, dst)
    t.add('EDGE', edge, f'{_rewrite(topo, sent, h.packet)}; {topo.encapsulation} VNI {h.vni} to {name} '
                        f'({h.host_ip}), {target["instance"]}\'s host')
    t.arrival = (h.vni, edge, name, h.packet, target['mac'])
    t.add('CHECK', name, f'from {edge} ({_edge_ip(edge)}) in VNI {h.vni}: the edge\'s door, open to any inner '
                         'source of a VPC with a way out')
    probe = _probe_of(h.packet)             # an NLB or endpoint sends it to its listener's target port
    inst = _receive(topo, state, t, src, target, probe, membership(state.entries))
    if inst is None:
        return t
    back = acl_decision(topo.vpcs[inst.vpc], inst.subnet, 'outbound', _back(probe), src)
    t.reply = 'the reply passes the ACLs, and its route back is the way it came (Blackfoot checked)' if back.allow \
        else f'the reply would be dropped at EGRESS_NACL on {name}: {back.why}'
    return t.reachable()


def _through_node(topo, state, w, t, node, vni, pkt, b, probe):
    """A Hyperplane node's decision, then Blackfoot's (the nodes send everything through edge1)."""
    verdict, out_vni, counted = w.node(node, vni, pkt)
    if not isinstance(verdict, Forward):
        reason = getattr(verdict, 'reason', 'reset')
        return t.drop('HYPERPLANE_NODE', node, reason, f'{node} {node_words(verdict, counted, pkt)}')
    t.add('HYPERPLANE_NODE', node, f'{_rewrite(topo, pkt, verdict.packet)}'
                                   f'{" (new flow)" if counted.get("flows") or _flows(counted) else ""}; '
                                   f'to edge1 in VNI {out_vni}')
    return _beyond(topo, state, w, t, 'edge1', w.relay(out_vni, verdict.packet), verdict.packet, b, probe)


def _flows(counted):
    return [k.partition(':')[2] for k in counted if k.startswith('flows:')]


def _outside(topo, state, w, t, link, pkt, sent, b, probe):
    """An outside network's router delivers the packet to the host with its destination address, or not."""
    dst = p.ip4_text(pkt[16:20])
    host, router, network = _outside_host(topo, link, dst)
    if host is None and link == 'internet':
        # the router's default route is the edge (edge_plan): an elastic IP comes back in, as through AWS's
        # internet gateway; any other address meets Blackfoot's inbound decision (no-elastic-ip)
        t.add('OUTSIDE', network, f'no internet host has {dst}: {router} sends it back to the edge (its default '
                                  f'route)')
        edge = w.entering(link)
        return _beyond(topo, state, w, t, edge, w.inbound(edge, link, pkt), pkt, b, probe)
    if host is None:
        return t.drop('OUTSIDE', network, 'no-host', f'no host of {network} has {dst}')
    t.add('OUTSIDE', host, f'{router} delivers it to {host} ({dst})')
    t.reply = _reply_in(topo, state, w, link, pkt, sent)
    return t.reachable()


def _outside_host(topo, link, dst):
    """(the host at `dst` behind `link`, its router, the network's name)."""
    if link == 'internet':
        hosts, router, network = topo.outside.internet, 'the internet router', 'the internet'
    elif link == 'services':
        aliases = [alias for _, _, alias in edge_plan.gateway_endpoints(topo)]
        s3 = topo.services.s3_host
        return (s3 if dst in [topo.services.s3_ip, *aliases] else None), 'the services network', 'the services network'
    else:
        kind, _, name = link.partition(':')
        site = topo.outside.sites[next(c.site for v in topo.vpcs.values() for c in
                                       (v.vpn_connections if kind == 'vpn' else v.direct_connect).values()
                                       if (c.id if kind == 'vpn' else c.name) == name)]
        hosts, network = site.hosts, site.name
        router = f'{site.vpn_router if kind == "vpn" else site.dx_router} and {site.name}\'s router'
    return next((h.name for h in hosts.values() if h.ip == dst), None), router, network


def _reply_in(topo, state, w, link, out, sent):
    """The reply of an outside host, back through the edge (and the node that translated, if one did) to
    the sender, whose subnet's ACL must let it in (stateless)."""
    back = reply(out)
    h = w.inbound(w.entering(link), link, back)
    while h.kind == 'host' and w.host_at(h.host_ip)[0] == 'node':
        node = w.host_at(h.host_ip)[1]
        verdict, vni, _ = w.node(node, h.vni, h.packet)
        if not isinstance(verdict, Forward):
            return f'the reply ({endpoints(back)}) would be dropped by Hyperplane node {node}: ' \
                   f'{getattr(verdict, "reason", "reset")}'
        h = w.relay(vni, verdict.packet)
    if h.kind != 'host':
        return f'the reply ({endpoints(back)}) would be dropped by Blackfoot: {h.reason or h.link}'
    dst = p.ip4_text(h.packet[16:20])
    target = state.entry(h.vni, dst)
    inst = topo.instance(target['instance'])
    probe_back = _probe_of(h.packet)
    src = p.ip4_text(h.packet[12:16])
    d = acl_decision(topo.vpcs[inst.vpc], inst.subnet, 'inbound', probe_back, src)
    if not d.allow:
        return f'the reply ({endpoints(h.packet)}) would be dropped at INGRESS_NACL on {target["host"]}: {d.why}'
    return f'the reply comes back through Blackfoot ({endpoints(h.packet)}) and passes {inst.subnet}\'s ACL'


def _probe_of(pkt):
    """The Probe of an IPv4 packet's bytes: its protocol and ports."""
    proto = pkt[9]
    if proto == p.PROTO_ICMP:
        return Probe(proto)
    return Probe(proto, int.from_bytes(pkt[22:24], 'big'), int.from_bytes(pkt[20:22], 'big'))


def _back(probe):
    """The reply as the rules see it: to the traced packet's source port."""
    return Probe(probe.protocol, probe.sport if probe.port is not None else None)


def _rewrite(topo, before, after):
    """'source 10.0.1.10 -> 203.0.113.1 (elastic IP web-eip)' of what changed between two packets."""
    said = []
    for which, at in (('source', 12), ('destination', 16)):
        old, new = p.ip4_text(before[at:at + 4]), p.ip4_text(after[at:at + 4])
        if old != new:
            said.append(f'{which} {old} -> {new}{_what(topo, new, old)}')
    return (', '.join(said) or 'not rewritten') + f' ({endpoints(after)})'


def _what(topo, ip, other):
    for vpc in topo.vpcs.values():
        for e in vpc.elastic_ips.values():
            if ip in (e.address,) or other == e.address and e.instance and vpc.instances[e.instance].ip == ip:
                return f' (elastic IP {e.name})'
        for nat in vpc.nat_gateways.values():
            if ip == nat.ip:
                return f' (NAT gateway {nat.name})'
        for lb in vpc.load_balancers.values():
            if any(ip in (a.ip, a.public_ip) for a in lb.addresses):
                return f' (load balancer {lb.name})'
    return next((f' (S3\'s alias for gateway endpoint {ep.name})' for _, ep, alias in edge_plan.gateway_endpoints(topo)
                 if alias == ip), '')


def _edge_ip(edge):
    return 'any edge node\'s address' if edge == 'edge*' else edge_plan.edge_ip(int(edge[4:]))


# Blackfoot's drop reasons (testbed/appliances/blackfoot.py), for people
EDGE_WORDS = {
    'no-elastic-ip': 'no elastic IP is associated with that address',
    'no-route-to-igw': 'the instance\'s subnet does not route the reply back to igw',
    'no-route-to-vgw': 'the instance\'s subnet does not route the reply back to vgw',
    'no-route-to-dx': 'the instance\'s subnet does not route the reply back by that Direct Connect',
    'no-route-to-vpce': 'the instance\'s subnet does not route the reply back by that endpoint',
    'no-mapping': 'no instance has the destination in the VPC',
    'no-flow': 'no node of the NAT gateway holds a connection on that port (nothing went out that way)',
    'not-a-flow': 'it is no TCP, UDP or ICMP flow a Hyperplane node can follow',
    'no-live-node': 'every node of the load balancer\'s shard has failed',
    'source-not-site': 'the source is not in the site\'s CIDR',
    'unroutable-source': 'the internet never routes such a source (link-local, loopback, multicast)',
    'unroutable-destination': 'the internet never routes such a destination (link-local, multicast, broadcast)',
    'no-vpn-connection': 'no VPN connection of the VPC reaches the destination',
    'no-route': 'no route of the VPC to the edge covers it',
    'not-the-service': 'a gateway endpoint leads only to S3\'s address',
}


__all__ = ['End', 'Step', 'Trace', 'TraceState', 'trace']
