"""Crafted packets for demos, tests and labs (scapy), run inside an instance or on an
underlay cable:

    python -m testbed.craft ip     --iface eth0 --src-mac M --dst-mac M --src-ip A --dst-ip B
    python -m testbed.craft tunnel --iface vl_tor1p2 --outer-src X --outer-dst Y
                                   --outer-dst-mac M --vni N --src-mac ... --dst-ip B
"""
import argparse
import sys


def inner(args):
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether
    return Ether(src=args.src_mac, dst=args.dst_mac) / IP(src=args.src_ip, dst=args.dst_ip) / \
        ICMP(id=0x7a7a) / b'vpclab-crafted'


def encapsulated(args):
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    frame = inner(args)
    if args.encapsulation == 'vxlan':
        from scapy.layers.vxlan import VXLAN
        tunnel = UDP(sport=49152, dport=4789) / VXLAN(vni=args.vni, flags=0x08)
    else:
        from scapy.contrib.geneve import GENEVE
        tunnel = UDP(sport=49152, dport=6081) / GENEVE(vni=args.vni, proto=0x6558)
    return Ether(src='02:bb:00:00:00:01', dst=args.outer_dst_mac) / \
        IP(src=args.outer_src, dst=args.outer_dst) / tunnel / frame


def main(argv=None):
    ap = argparse.ArgumentParser(description='send crafted packets')
    sub = ap.add_subparsers(dest='kind', required=True)
    for name in ('ip', 'tunnel'):
        p = sub.add_parser(name)
        p.add_argument('--iface', required=True)
        p.add_argument('--count', type=int, default=3)
        for field in ('src-mac', 'dst-mac', 'src-ip', 'dst-ip'):
            p.add_argument('--' + field, required=True)
        if name == 'tunnel':
            for field in ('outer-src', 'outer-dst', 'outer-dst-mac'):
                p.add_argument('--' + field, required=True)
            p.add_argument('--vni', type=int, required=True)
            p.add_argument('--encapsulation', choices=['geneve', 'vxlan'], default='geneve')
    args = ap.parse_args(argv)
    from scapy.sendrecv import sendp
    frame = inner(args) if args.kind == 'ip' else encapsulated(args)
    sendp(frame, iface=args.iface, count=args.count, inter=0.05, verbose=False)
    print('sent %d' % args.count)


if __name__ == '__main__':
    sys.exit(main())
