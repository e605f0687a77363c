"""The one packet of `vpclab trace --wire` (scapy), sent from inside the source instance's namespace, or
as a forged encapsulated packet on a host's cable (--outer-src ...):

    python -m testbed.observe.trace_packet --iface eth0 --src-mac M --dst-mac M --src-ip A --dst-ip B \\
        --proto tcp --sport 40000 --dport 80
tcp is a SYN, udp a datagram, icmp an echo request (id 0x7a7b); every one carries MARK."""
import argparse
import sys

MARK = b'vpclab-trace'
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


def main(argv=None):
    ap = argparse.ArgumentParser(description='send the packet of vpclab trace --wire')
    ap.add_argument('--iface', required=True)
    for name in ('src-mac', 'dst-mac', 'src-ip', 'dst-ip'):
        ap.add_argument(f'--{name}', required=True)
    ap.add_argument('--proto', choices=['icmp', 'tcp', 'udp'], default='icmp')
    ap.add_argument('--sport', type=int, default=40000)
    ap.add_argument('--dport', type=int, default=0)
    ap.add_argument('--count', type=int, default=1)
    for name in ('outer-src', 'outer-dst', 'outer-dst-mac'):
        ap.add_argument(f'--{name}')
    ap.add_argument('--vni', type=int)
    ap.add_argument('--encapsulation', choices=['geneve', 'vxlan'], default='geneve')
    args = ap.parse_args(argv)
    from scapy.sendrecv import sendp
    sendp(frame(args), iface=args.iface, count=args.count, inter=0.05, verbose=False)
    print(f'sent {args.count}')


if __name__ == '__main__':
    sys.exit(main())
