"""`vpclab vpn-keys FILE [CONNECTION]`: the ESP keys of a topology's VPN connections, for tshark.

There is no IKE: Blackfoot and the site's VPN router derive both SAs of a connection from the
topology's name and the connection's id (testbed/appliances/esp.py), so the keys follow from the
file alone, with or without a running lab.
"""
import shlex

from testbed.appliances import esp
from testbed.appliances.packets import ip4, ip4_text
from testbed.errors import UsageError
from testbed.fabric import edge_plan
from testbed.topology import load


def sas(topo, connection=None):
    """[(vpc, connection, (edge -> site SA, site -> edge SA))] of the topology, or of one connection
    (by name or id)."""
    out = []
    for vpc, conn, edge_end, _ in edge_plan.vpn_connections(topo):
        if connection in (None, conn.name, conn.id):
            site = topo.outside.sites[conn.site]
            out.append((vpc, conn, esp.sa_pair(topo.name, conn.id, ip4(edge_end), ip4(site.vpn_router_ip))))
    if not out:
        names = [c.name for _, c, _, _ in edge_plan.vpn_connections(topo)]
        raise UsageError(f'no VPN connection {connection!r} in {topo.path}; connections: {", ".join(names) or "none"}'
                         if connection else f'{topo.path} has no VPN connections')
    return out


def tshark_options(topo, connection=None):
    return esp.tshark_args([sa for _, _, pair in sas(topo, connection) for sa in pair])


def describe(topo, connection=None):
    lines = []
    for vpc, conn, pair in sas(topo, connection):
        lines.append(f'{conn.name} ({conn.id}, vpc {vpc.name} to site {conn.site}): ESP tunnel mode, '
                     f'{esp.TSHARK_ALGORITHM}')
        for direction, sa in zip(('edge -> site', 'site -> edge'), pair):
            lines.append(f'  {direction}: {ip4_text(sa.src)} -> {ip4_text(sa.dst)} spi 0x{sa.spi:08x} '
                         f'key 0x{sa.keying_material.hex()}')
        lines.append('  tshark -r CAPTURE ' + ' '.join(shlex.quote(a) for a in esp.tshark_args(pair)))
    return '\n'.join(lines)


def vpn_keys(args):
    print(describe(load(args.topology), args.connection))
    return 0


def add_parsers(subparsers):
    p = subparsers.add_parser('vpn-keys', help='the ESP keys of the VPN connections, for tshark to decrypt')
    p.add_argument('topology', metavar='FILE')
    p.add_argument('connection', nargs='?', metavar='CONNECTION', help='a connection\'s name or id (default: all)')
    p.set_defaults(func=vpn_keys)
