"""Security groups, network ACLs and route tables as pure rule logic (no OpenFlow).

The topology file's rules (testbed.topology.firewall_format) arrive in the controller config as
dicts {protocol, ports, peer, number, action}.  Here they become `Match`es: one OpenFlow match
each, which host_agent.py writes as flows.  Keeping this pure lets unit tests check the AWS
semantics (union of groups, sg: references by membership, first-match ACLs, longest-prefix routes)
without a switch.
"""
import ipaddress
from collections import namedtuple

# protocol: IP protocol number or None (all); cidr: the other end; port/mask: destination port
# bits (tcp/udp only; None: every port)
Match = namedtuple('Match', 'protocol cidr port mask')

ACL_PRIORITY_TOP = 33000          # rule N gets priority 33000 - N: lower numbers are evaluated first
ROUTE_PRIORITY_BASE = 100         # a route to /N gets 100 + N: the longest prefix wins
UNBUILT_TARGETS = ('igw', 'nat', 'vgw', 'dx', 'vpce')   # gateways that a later feature builds


def port_masks(first, last):
    """The (value, mask) pairs that together match exactly the ports first..last."""
    if (first, last) == (0, 65535):
        return [(None, None)]
    out = []
    while first <= last:
        size = first & -first if first else 1 << 16       # the largest block aligned at `first`
        while size > last - first + 1:
            size >>= 1
        out.append((first, 0xffff & ~(size - 1)))
        first += size
    return out


def matches(rule, cidrs):
    """The Matches of one rule whose other end is any of `cidrs`."""
    ports = port_masks(*rule['ports']) if rule.get('ports') else [(None, None)]
    return [Match(rule['protocol'], cidr, port, mask) for cidr in cidrs for port, mask in ports]


# ---- security groups ------------------------------------------------------------------------

def members(entries):
    """(VNI, group) -> the /32s of the ENIs in it, from the mapping table's entries."""
    out = {}
    for e in entries:
        for group in e.security_groups:
            out.setdefault((e.vni, group), set()).add(e.ip + '/32')
    return out


def peer_cidrs(peer, vni, membership):
    if peer.startswith('sg:'):
        return sorted(membership.get((vni, peer[3:]), ()))
    return [peer]


def security_group_matches(groups, eni_groups, vni, membership):
    """What one ENI allows: {'inbound': [Match], 'outbound': [Match]}, the union of the rules of
    all its groups (AWS: a packet passes if any rule of any group allows it)."""
    out = {}
    for direction in ('inbound', 'outbound'):
        found = set()
        for name in eni_groups:
            for rule in groups[name][direction]:
                found.update(matches(rule, peer_cidrs(rule['peer'], vni, membership)))
        out[direction] = sorted(found, key=_order)
    return out


def _order(m):
    return tuple(-1 if v is None else v for v in (m.protocol, m.port, m.mask)) + (m.cidr,)


class SecurityGroupBook:
    """The groups of every VPC, and what each host was last told about its ENIs, so that a rule
    change or a membership change reaches exactly the hosts whose ENIs it changes."""

    def __init__(self, groups):
        self.groups = {int(vni): dict(g) for vni, g in groups.items()}   # vni -> name -> rules
        self._told = {}                    # host -> {ENI key: compiled matches}

    def set_rules(self, vni, name, inbound, outbound):
        if name not in self.groups.get(vni, {}):
            raise KeyError(f'VPC {vni} has no security group {name!r}')
        self.groups[vni][name] = dict(inbound=list(inbound), outbound=list(outbound))

    def changes_for(self, host, entries):
        """{ENI key: matches} for the ENIs now on `host` whose matches changed since it was told."""
        membership = members(entries)
        told = self._told.setdefault(host, {})
        now = {e.key: security_group_matches(self.groups[e.vni], e.security_groups, e.vni,
                                              membership)
               for e in entries if e.host == host}
        changed = {k: m for k, m in now.items() if told.get(k) != m}
        self._told[host] = now
        return changed


# ---- network ACLs -------------------------------------------------------------------------------

def acl_entries(rules):
    """[(priority, Match, allow)] of one direction of an ACL, evaluated lowest rule number first;
    what no rule matches is denied (the implicit rule *)."""
    return [(ACL_PRIORITY_TOP - r['number'], m, r['action'] == 'allow')
            for r in rules for m in matches(r, [r['peer']])]


# ---- route tables -------------------------------------------------------------------------------

def route_decision(target):
    """None: on to the mapping lookup (the local route and peerings); else why it is dropped."""
    kind = target.split(':')[0]
    if target == 'local' or kind == 'pcx':
        return None
    if target == 'blackhole':
        return 'blackhole'
    if kind in UNBUILT_TARGETS:
        return 'target-not-built'
    raise ValueError(f'unknown route target {target!r}')


def route_entries(routes):
    """[(priority, destination CIDR, drop reason or None)]; no match at all is 'no-route'."""
    return [(ROUTE_PRIORITY_BASE + ipaddress.IPv4Network(r['destination']).prefixlen,
             r['destination'], route_decision(r['target'])) for r in routes]
