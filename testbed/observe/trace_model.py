"""`vpclab trace` without a packet: each stage's decision for one packet, in journey order
(docs/journey.md), from the topology and the controller's state (or the topology file alone), with the
rule, route or mapping that decided, and the verdict.

The decisions are the controller's own pure stage logic (testbed/observe/trace_rules.py, shared with the
reachability matrix); the state is what the mapping service holds (where each instance runs, its MAC and
groups), what each host's cache holds and the security groups as they are now (TraceState.of_lab), or
what the file says (TraceState.of_topology).  The model traces the first packet of a new connection."""
from dataclasses import dataclass, field

from controllers.pipeline import ROUTER_MAC
from testbed.errors import UsageError
from testbed.fabric import hyperplane_plan
from testbed.observe.trace_ends import End, resolve
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

SPORT = 40000          # the source port of the traced packet (tcp/udp), which the reply is sent to


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
            return _to_hyperplane(topo, state, t, here, served, a.ip, probe)
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
            return _to_hyperplane(topo, state, t, here, r.hyperplane, a.ip, probe)
        if r.vpc is None:
            t.add('ROUTE_TABLE', here, said)
            return t.not_carried(f'the packet leaves {vpc.name} by {r.route.target}; the trace does not follow '
                                 'the edge yet')
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


def _to_hyperplane(topo, state, t, here, resource, client_ip, probe):
    """HYPERPLANE: the node of the resource's shard that the flow's bucket goes to (the trace ends there)."""
    c = node_choice(resource, client_ip, SPORT if probe.port is not None else None, state.failed)
    shard = ', '.join(resource.shard)
    if c.node is None:
        return t.drop('HYPERPLANE', here, 'no-live-node', f'every node of {_named(resource)}\'s shard ({shard}) '
                                                          'has failed')
    ip = next(n.ip for n in hyperplane_plan.nodes(topo) if n.name == c.node)
    t.add('HYPERPLANE', here, f'bucket {c.bucket} of {_named(resource)} -> {c.node} ({ip}), of its live nodes '
                              f'{", ".join(c.live)} (shard {shard}); {topo.encapsulation} VNI {resource.vni}')
    t.note('EGRESS_COMMIT', here, 'the new connection is tracked in the sender\'s zone')
    return t.not_carried(f'the packet goes to Hyperplane node {c.node} ({ip}) of {_named(resource)}; the trace '
                         'does not follow Hyperplane yet')


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
    inst = topo.instance(target['instance'])
    vpc = topo.vpcs[inst.vpc]
    t.add('DESTINATION', there, f'{target["eni"]} of {inst.name}, subnet {inst.subnet}')
    if inside(vpc.subnets[inst.subnet], a.ip):
        t.add('INGRESS_NACL', there, f'{a.ip} is inside {inst.subnet}: its network ACL is not applied')
    elif not t.decide('INGRESS_NACL', there, acl_decision(vpc, inst.subnet, 'inbound', probe, a.ip), 'network-acl'):
        return t
    sg = group_decision(vpc, state.groups.get(vpc.name), target['security_groups'], 'inbound', probe, a.ip, members)
    if not t.decide('INGRESS_SG_RULES', there, sg, 'security-group'):
        return t
    t.add('DELIVER', there, f'to {inst.name}\'s port')
    _reply(topo, t, a.instance, inst, probe)
    if b.kind == 'instance' and inst.name != b.name:
        return t.elsewhere(f'delivered to {inst.name} (VPC {inst.vpc}), not to {b.name}: {b.ip} is {inst.name}\'s '
                           f'where {a.name}\'s route table sends it')
    return t.reachable()


def _reply(topo, t, a, b, probe):
    """The ACLs are stateless: the reply must pass them too, and find its route back (a note only)."""
    back = Probe(probe.protocol, SPORT if probe.port is not None else None)
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


def _from_outside(topo, state, t, a, b, probe):
    """From an outside host, an elastic IP's internet side or a load balancer: the edge and Hyperplane are
    not in the data plane yet; what the VPC's own stages would decide is said, the verdict says so."""
    if a.kind == 'load-balancer':
        return t.not_carried(f'{a.label} sends to its targets from Hyperplane nodes, which the trace does '
                             'not follow yet')
    if b.instance is None:
        return t.not_carried(f'{b.label} is no instance: traffic from {a.label} to it never enters a VPC here')
    inst = b.instance
    vpc = topo.vpcs[inst.vpc]
    eip = vpc.elastic_ip_of(inst.name)
    if eip is None or b.ip != eip.address:
        return t.not_carried(f'{a.label} can reach {inst.name} only by an elastic IP; {inst.name} '
                             f'{"has " + eip.address if eip else "has none"}')
    e = state.of_instance(inst.name)
    t.note('EDGE', None, f'{a.label} ({a.ip}) -> {eip.address}: the internet gateway '
                         f'{vpc.internet_gateway or "(none)"} maps {eip.name} to {inst.name} ({inst.ip})')
    members = membership(state.entries)
    there = e['host'] if e else inst.host
    acl = acl_decision(vpc, inst.subnet, 'inbound', probe, a.ip)
    sg = group_decision(vpc, state.groups.get(vpc.name), inst.security_groups, 'inbound', probe, a.ip, members)
    for stage, d in (('INGRESS_NACL', acl), ('INGRESS_SG_RULES', sg)):
        t.note(stage, there, f'would {"allow" if d.allow else "drop"}: {d.why}')
    r = route_choice(topo, vpc.name, inst.subnet, a.ip)
    back = 'no route back' if r.route is None else f'the route back {r.route.destination} -> {r.route.target}'
    return t.not_carried(f'the data plane does not carry traffic from outside yet (the edge, Blackfoot, is not '
                         f'wired in: {back}{" is " + r.reason if r.reason else ""})')


__all__ = ['End', 'Step', 'Trace', 'TraceState', 'trace']
