"""Keeps the lab host's own network stack out of the lab.

Every interface a lab leaves in the root namespace (the root side of instance cables, NIC
cables, ToR and spine links, delay-line cables, the bridges' LOCAL taps) would otherwise be an
interface of this machine: the kernel answers ARP for any of its addresses on it, takes IP for
them, routes its replies out of the default route, and speaks IPv6 on it.  Open vSwitch's
userspace datapath reads these interfaces with AF_PACKET sockets, which see every frame before
the kernel's IP, IPv6 and ARP handlers do, so the lab closes those handlers and nothing else:

- `seal()`: per-interface sysctls, written to /proc/sys directly (thousands of interfaces, no
  process per setting), before the interface is brought up: no IPv6 at all, no ARP replies
  (arp_ignore=8), strict reverse-path filtering (nothing routes back out of a lab interface,
  so every IPv4 packet from one is dropped), no local source, no forwarding, no redirects.
- `guard()`: one iptables rule per family in the raw table that drops, before routing, all IP
  arriving on an interface with the lab's prefix (`-i vl_+`).  It closes what sysctls cannot:
  a datagram from 0.0.0.0 to 255.255.255.255 skips the reverse-path check and would reach any
  UDP socket of the host.  It also covers interfaces made later (migration).

`SealedLink` is the Mininet link class the fabric uses, so that sealing happens in one place
as each cable is made.
"""
import re
import shutil
import subprocess

from mininet.link import Intf, Link

PROC = '/proc/sys/net'
IPV6 = {'disable_ipv6': 1, 'accept_ra': 0, 'autoconf': 0, 'forwarding': 0}
IPV4 = {
    'arp_ignore': 8,                      # never answer ARP on this interface
    'arp_announce': 2,
    'arp_accept': 0,
    'arp_filter': 1,
    'drop_gratuitous_arp': 1,
    'proxy_arp': 0,
    'rp_filter': 1,                       # strict: no route leads back out of a lab interface
    'accept_local': 0,
    'route_localnet': 0,
    'forwarding': 0,
    'accept_redirects': 0,
    'send_redirects': 0,
    'accept_source_route': 0,
    'bootp_relay': 0,
    'drop_unicast_in_l2_multicast': 1,
}
PREFIX = re.compile(r'[A-Za-z0-9]{2}_\Z')
TOOLS = ('iptables', 'ip6tables')


def settings(interface):
    """(path, value) of every setting that seals `interface` (IPv6 first: once it is off the
    interface never has a link-local address)."""
    return ([(f'{PROC}/ipv6/conf/{interface}/{k}', v) for k, v in IPV6.items()] +
            [(f'{PROC}/ipv4/conf/{interface}/{k}', v) for k, v in IPV4.items()])


def seal(interfaces):
    for interface in interfaces:
        for path, value in settings(interface):
            with open(path, 'w') as f:
                f.write(f'{value}\n')


def unsealed(interfaces):
    """{interface: [settings that are not as seal() makes them]} (for tests and checks)."""
    out = {}
    for interface in interfaces:
        wrong = []
        for path, value in settings(interface):
            try:
                with open(path) as f:
                    ok = f.read().strip() == str(value)
            except OSError:
                ok = False
            if not ok:
                wrong.append(path.rsplit('/', 1)[1])
        if wrong:
            out[interface] = wrong
    return out


class SealedIntf(Intf):
    """A Mininet interface that is sealed, when it is in the root namespace, before Mininet
    brings it up."""

    def __init__(self, name, node=None, *args, **kwargs):
        if node is not None and not node.inNamespace:
            seal([name])
        super().__init__(name, node, *args, **kwargs)


class SealedLink(Link):
    def __init__(self, *args, **kwargs):
        if kwargs.get('intf') in (None, Intf):       # Mininet.addLink passes its default
            kwargs['intf'] = SealedIntf
        super().__init__(*args, **kwargs)


def rule(prefix):
    """The raw-table rule of a lab (its arguments after the chain)."""
    if not PREFIX.match(prefix or ''):
        raise ValueError(f'{prefix!r} is not a lab prefix')
    return ['-i', prefix + '+', '-m', 'comment', '--comment', f'vpclab:{prefix}', '-j', 'DROP']


def _iptables(tool, op, prefix, run):
    return run([tool, '-w', '5', '-t', 'raw', op, 'PREROUTING', *rule(prefix)],
               capture_output=True, text=True)


def guard(prefix, run=subprocess.run):
    """Drop every IPv4 and IPv6 packet arriving on the lab's interfaces before routing."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise RuntimeError(f'{tool} is not installed: run `sudo make setup`')
        if _iptables(tool, '-C', prefix, run).returncode:
            r = _iptables(tool, '-I', prefix, run)
            if r.returncode:
                raise RuntimeError(f'{tool} could not add the lab guard: {r.stderr.strip()}')


def unguard(prefix, run=subprocess.run):
    """Remove the guard of `prefix` (only that rule; nothing else of the host's firewall)."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            continue
        for _ in range(10):            # one copy per guard() call; a few at most
            if _iptables(tool, '-D', prefix, run).returncode:
                break
