"""Firewall rules as OpenFlow matches, shared by the security-group and network-ACL stages.

The topology file's rules (testbed.topology.firewall_format) arrive in the controller config as
dicts {protocol, ports, peer, number, action}; each becomes `Match`es, one OpenFlow match each.
"""
import ipaddress
from collections import namedtuple

from controllers.compat import nicira_ext
from controllers.router import ofp

# protocol: IP protocol number or None (all); cidr: the other end; port/mask: destination port
# bits (tcp/udp only; None: every port)
Match = namedtuple('Match', 'protocol cidr port mask')

TCP, UDP = 6, 17
LATER_FRAGMENT = (nicira_ext.FLOW_NW_FRAG_ANY | nicira_ext.FLOW_NW_FRAG_LATER,) * 2


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


def net(cidr):
    """'10.0.0.0/16' -> ('10.0.0.0', '255.255.0.0') as OFPMatch takes it."""
    n = ipaddress.IPv4Network(cidr)
    return str(n.network_address), str(n.netmask)


def fields(m, peer_field, **extra):
    """The OpenFlow match fields of a Match.  A rule with ports also admits the later fragments
    of its protocol and peer, which carry no ports: the reassembler releases them only
    together with their first fragment, which the ports decide."""
    out = dict(extra, eth_type=ofp.IP)
    if m.protocol is not None:
        out['ip_proto'] = m.protocol
    if m.cidr != '0.0.0.0/0':
        out[peer_field] = net(m.cidr)
    if m.port is None:
        return [out]
    name = 'tcp_dst' if m.protocol == TCP else 'udp_dst'
    return [dict(out, **{name: m.port if m.mask == 0xffff else (m.port, m.mask)}),
            dict(out, ip_frag=LATER_FRAGMENT)]


def of_match(fields):
    """OFPMatch sorts fields by OXM class, which puts Nicira fields first; OVS checks
    prerequisites in order, and ip_frag needs eth_type before it."""
    m = ofp.match(**fields)
    if 'ip_frag' not in fields:
        return m
    return ofp.parser.OFPMatch(_ordered_fields=sorted(m._fields2, key=lambda f: f[0] == 'ip_frag'))


def of_matches(m, peer_field, **extra):
    return [of_match(f) for f in fields(m, peer_field, **extra)]
