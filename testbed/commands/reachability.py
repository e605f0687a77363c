"""`reachability` (the shell's `pingall` too): per VPC, which instance can ping which, by name.

Expected comes from the model, stage by stage as the pipeline decides (controllers/router: the route
decision, the security groups' matches and the network ACLs' entries are reused, pure): the sender's
route to the address, its security group out, its subnet's ACL out, the receiver's ACL in and group in,
and for the reply (ACLs are stateless) both ACLs the other way and the route back.  Observed is a real
ping in the sender's namespace (entered by the PID the run state recorded).  Only pairs where the
address names the instance are pinged: in another, unpeered VPC the same address is someone else
(Mininet's pingall pings bare addresses, and lies with overlapping CIDRs)."""
import subprocess
from dataclasses import dataclass

from testbed.commands.output import Report, Table, output_argument, render
from testbed.errors import UsageError
from testbed.observe.trace_rules import PING, acl_decision, group_decision, route_choice, topology_membership

SHORT = {'security-group': 'sg', 'network-acl': 'nacl', 'target-not-built': 'no-target', 'leaves-vpc': 'out'}


@dataclass
class Pair:
    src: object          # model Instances
    dst: object
    expected: str | None         # None: reachable; else the drop reason and where, e.g. 'security-group in'
    observed: bool | None = None  # None: not pinged

    @property
    def mismatch(self):
        return self.observed is not None and self.observed != (self.expected is None)


def _group_allows(topo, inst, direction, peer_ip, membership, groups):
    vpc = topo.vpcs[inst.vpc]
    return group_decision(vpc, groups.get(vpc.name), inst.security_groups, direction, PING, peer_ip,
                          membership).allow


def _acl_allows(vpc, subnet, direction, peer_ip):
    return acl_decision(vpc, subnet, direction, PING, peer_ip).allow


def route(topo, a, b):
    """None if a packet from a to b's address reaches b's VPC by a's route table; else the reason
    ('other-vpc': the address is someone else's there; 'leaves-vpc': the route sends it to a gateway
    on the edge -- igw, vgw, dx:, vpce: -- or to a NAT gateway on Hyperplane, so it leaves the VPC)."""
    found = route_choice(topo, a.vpc, a.subnet, b.ip)
    if found.reason:
        return found.reason
    if found.vpc is None:
        return 'leaves-vpc'
    return None if found.vpc == b.vpc else 'other-vpc'


def expected(topo, a, b, membership=None, groups=None):
    """None if a's ping reaches b and b's reply reaches a; else the first reason, with where.
    groups: {vpc: {group: rules}} as the running lab holds them now (else the file's)."""
    membership = topology_membership(topo) if membership is None else membership
    groups = groups or {}
    va, vb = topo.vpcs[a.vpc], topo.vpcs[b.vpc]
    inside = a.vpc == b.vpc and a.subnet == b.subnet      # ACLs apply between subnets only
    checks = (
        (lambda: route(topo, a, b) is None, lambda: route(topo, a, b)),
        (lambda: _group_allows(topo, a, 'outbound', b.ip, membership, groups), lambda: 'security-group out'),
        (lambda: inside or _acl_allows(va, a.subnet, 'outbound', b.ip), lambda: 'network-acl out'),
        (lambda: inside or _acl_allows(vb, b.subnet, 'inbound', a.ip), lambda: 'network-acl in'),
        (lambda: _group_allows(topo, b, 'inbound', a.ip, membership, groups), lambda: 'security-group in'),
        (lambda: inside or _acl_allows(vb, b.subnet, 'outbound', a.ip), lambda: 'network-acl out (reply)'),
        (lambda: inside or _acl_allows(va, a.subnet, 'inbound', b.ip), lambda: 'network-acl in (reply)'),
        (lambda: route(topo, b, a) is None, lambda: f'{route(topo, b, a)} (reply)'),
    )
    return next((why() for ok, why in checks if not ok()), None)


def pairs(topo, vpc_names=None, groups=None):
    """{vpc: [Pair]}: each instance of the VPC to every other instance its address reaches by name
    (its own VPC's, and peered VPCs' where the route table sends the address there)."""
    membership = topology_membership(topo)
    out = {}
    for vpc in topo.vpcs.values():
        if vpc_names and vpc.name not in vpc_names:
            continue
        peers = [w for w in topo.vpcs.values() if w.name == vpc.name or topo.peered(vpc.name, w.name)]
        out[vpc.name] = [Pair(a, b, expected(topo, a, b, membership, groups))
                         for a in vpc.instances.values() for w in peers for b in w.instances.values()
                         if b.name != a.name and route(topo, a, b) != 'other-vpc']
    return out


def observe(state, found, enter, timeout=3):
    """Ping every pair at once, each in its sender's namespace; sets Pair.observed."""
    procs = []
    for pair in (p for ps in found.values() for p in ps):
        cmd = ['nsenter', *enter(state, pair.src.name), 'ping', '-n', '-q', '-c2', '-i0.2', '-W1',
               pair.dst.ip]
        procs.append((pair, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    for pair, proc in procs:
        try:
            pair.observed = proc.wait(timeout=timeout) == 0     # ping: 0 when a reply came
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pair.observed = False


def _short(reason):
    word, _, rest = reason.partition(' ')
    return SHORT.get(word, word) + (f' {rest}' if rest else '')


def cell(pair):
    want = 'ok' if pair.expected is None else _short(pair.expected)
    if pair.observed is None:
        return want
    if pair.mismatch:
        return f'!! {"ok" if pair.observed else "no reply"}, want {want}'
    return want


def report(topo, found):
    tables, mismatches = [], []
    for vpc, ps in found.items():
        sources = [i for i in topo.vpcs[vpc].instances]
        named = {p.dst.name for p in ps}
        dests = [i.name for i in topo.instances() if i.name in named]
        at = {(p.src.name, p.dst.name): p for p in ps}
        rows = [(s, *(cell(at[s, d]) if (s, d) in at else '-' for d in dests)) for s in sources]
        tables.append(Table(('FROM \\ TO', *dests), rows, f'VPC {vpc} ({topo.vpcs[vpc].cidr})',
                            empty='(fewer than two instances)'))
        mismatches += [p for p in ps if p.mismatch]
    checked = sum(1 for ps in found.values() for p in ps if p.observed is not None)
    lines = [f'{checked} pairs pinged, {len(mismatches)} not as expected' if checked else
             'expected only (nothing pinged)']
    lines += [f'!! {p.src.name} -> {p.dst.name} ({p.dst.ip}): {"replied" if p.observed else "no reply"}, '
              f'expected {"a reply" if p.expected is None else p.expected}' for p in mismatches]
    doc = dict(Vpcs=[dict(Name=vpc, VpcId=topo.vpcs[vpc].id, Pairs=[
        dict(Source=p.src.name, Destination=p.dst.name, DestinationIp=p.dst.ip, Expected=p.expected is None,
             ExpectedReason=p.expected, Observed=p.observed, Match=not p.mismatch) for p in ps])
        for vpc, ps in found.items()], Mismatches=len(mismatches))
    report = Report(tables, doc, lines)
    report.csv_tables = [Table(('VPC', 'SOURCE', 'DESTINATION', 'IP', 'EXPECTED', 'OBSERVED', 'MATCH'),
                               [(vpc, p.src.name, p.dst.name, p.dst.ip, p.expected or 'reachable',
                                 '' if p.observed is None else 'reachable' if p.observed else 'unreachable',
                                 not p.mismatch) for vpc, ps in found.items() for p in ps])]
    return report


def reachability_arguments(p):
    p.add_argument('--vpc', action='append', metavar='VPC', help='only this VPC (again for more)')
    p.add_argument('--expected', action='store_true', help='only what the model expects: ping nothing')
    output_argument(p)


def reachability(lab, args):
    from testbed.commands.inspect import enter
    topo = lab.topology
    for name in args.vpc or ():
        if name not in topo.vpcs:
            raise UsageError(f'no VPC named {name!r} in this lab; VPCs are: {", ".join(topo.vpcs)}')
    groups = {v.name: {g: lab.api.security_group(v.name, g) for g in v.security_groups} for v in topo.vpcs.values()}
    found = pairs(topo, args.vpc, groups)
    if not args.expected:
        observe(lab.state, found, enter)
    out = report(topo, found)
    if getattr(args, 'output', 'table') == 'csv':
        out.tables = out.csv_tables
    return render(out, args)
