"""The one packet of `vpclab trace --wire` (scapy), sent from inside the source instance's namespace, or
as a forged encapsulated packet on a host's cable (--outer-src ...), or with --l3 from an outside host's
namespace as IPv4 bytes through its kernel's routes (a raw socket; the bytes of trace_outside.packet):

    python -m testbed.observe.trace_packet --iface eth0 --src-mac M --dst-mac M --src-ip A --dst-ip B \\
        --proto tcp --sport 40000 --dport 80
tcp is a SYN, udp a datagram, icmp an echo request (id 0x7a7b); every one carries MARK."""
import argparse
import sys

from testbed.appliances.hyperplane.flows import TRACE_MARK as MARK

ICMP_ID = 0x7a7b


def frame(args):
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.l2 import Ether
    l4 = {'tcp': lambda: TCP(sport=args.sport, dport=args.dport, flags='S', seq=1000),
          'udp': lambda: UDP(sport=args.sport, dport=args.dport),
          'icmp': lambda: ICMP(id=ICMP_ID)}[args.proto]()
    inner = Ether(src=args.src_mac, dst=args.dst_mac) / IP(src=args.src_ip, dst=args.dst_ip) / l4 / MARK
    if not args.outer_src:
        return inner
    if args.encapsulation == 'vxlan':
        from scapy.layers.vxlan import VXLAN
        tunnel = UDP(sport=49152, dport=4789) / VXLAN(vni=args.vni, flags=0x08)
    else:
        from scapy.contrib.geneve import GENEVE
        tunnel = UDP(sport=49152, dport=6081) / GENEVE(vni=args.vni, proto=0x6558)
    return Ether(src='02:bb:00:00:00:01', dst=args.outer_dst_mac) / IP(src=args.outer_src, dst=args.outer_dst) / \
        tunnel / inner


def send_l3(args):
    import socket

    from testbed.observe.trace_outside import packet
    from testbed.observe.trace_rules import ICMP, TCP, UDP, Probe
    proto = {'icmp': ICMP, 'tcp': TCP, 'udp': UDP}[args.proto]
    data = packet(args.src_ip, args.dst_ip, Probe(proto, None if proto == ICMP else args.dport))
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        for _ in range(args.count):
            s.sendto(data, (args.dst_ip, 0))
    print(f'sent {args.count}')
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description='send the packet of vpclab trace --wire')
    ap.add_argument('--iface')
    ap.add_argument('--l3', action='store_true', help='IPv4 through the kernel\'s routes (no MACs, no --iface)')
    for name in ('src-mac', 'dst-mac', 'src-ip', 'dst-ip'):
        ap.add_argument(f'--{name}', required=name.endswith('ip'))
    ap.add_argument('--proto', choices=['icmp', 'tcp', 'udp'], default='icmp')
    ap.add_argument('--sport', type=int, default=40000)
    ap.add_argument('--dport', type=int, default=0)
    ap.add_argument('--count', type=int, default=1)
    for name in ('outer-src', 'outer-dst', 'outer-dst-mac'):
        ap.add_argument(f'--{name}')
    ap.add_argument('--vni', type=int)
    ap.add_argument('--encapsulation', choices=['geneve', 'vxlan'], default='geneve')
    args = ap.parse_args(argv)
    if args.l3:
        return send_l3(args)
    from scapy.sendrecv import sendp
    sendp(frame(args), iface=args.iface, count=args.count, inter=0.05, verbose=False)
    print(f'sent {args.count}')


if __name__ == '__main__':
    sys.exit(main())
