"""Crafted packets for demos, tests and labs (scapy), run inside an instance or on an
underlay cable:

    python -m testbed.observe.craft ip     --iface eth0 --src-mac M --dst-mac M --src-ip A --dst-ip B
    python -m testbed.observe.craft tunnel --iface vl_tor1p2 --outer-src X --outer-dst Y
                                   --outer-dst-mac M --vni N --src-mac ... --dst-ip B
and, to test flow tracking (docs/journey.md), with the same address options as `ip`:
    python -m testbed.observe.craft tcp        ... --sport P --dport Q --seq S --ack A   (one segment)
    python -m testbed.observe.craft fragments  ... --dport Q [--overlap]   (a UDP datagram in fragments;
                                           --overlap makes the second one overwrite the first)
    python -m testbed.observe.craft icmp-error ... --about-src A --about-dst B --about-sport P --about-dport Q
                                           (port unreachable about a UDP datagram A:P -> B:Q)
"""
import argparse
import sys


def inner(args):
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether
    return Ether(src=args.src_mac, dst=args.dst_mac) / IP(src=args.src_ip, dst=args.dst_ip) / \
        ICMP(id=0x7a7a) / MARK


def tcp_segment(args):
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    return Ether(src=args.src_mac, dst=args.dst_mac) / IP(src=args.src_ip, dst=args.dst_ip) / \
        TCP(sport=args.sport, dport=args.dport, seq=args.seq, ack=args.ack, flags='PA') / MARK


def fragments(args):
    """A 3 kB UDP datagram in 1400-byte fragments (OVS's reassembler refuses fragments under
    1200 bytes); with overlap, the second fragment starts inside the first one (what a
    reassembler must refuse: overlaps can rewrite what the tracker already checked)."""
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.l2 import Ether
    datagram = IP(src=args.src_ip, dst=args.dst_ip, id=0x7a7a) / UDP(sport=40000, dport=args.dport) / \
        (MARK * 220)
    frags = fragment(datagram, fragsize=1400)
    if args.overlap:
        frags[1].frag -= 1                         # offsets count 8 bytes: 8 bytes overlap
    return [Ether(src=args.src_mac, dst=args.dst_mac) / f for f in frags]


def icmp_error(args):
    from scapy.layers.inet import ICMP, IP, IPerror, UDPerror
    from scapy.layers.l2 import Ether
    about = IPerror(src=args.about_src, dst=args.about_dst) / UDPerror(sport=args.about_sport,
                                                                      dport=args.about_dport)
    return Ether(src=args.src_mac, dst=args.dst_mac) / IP(src=args.src_ip, dst=args.dst_ip) / \
        ICMP(type=3, code=3) / about


MARK = b'vpclab-crafted'


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
    for name in ('ip', 'tunnel', 'tcp', 'fragments', 'icmp-error'):
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
        if name in ('tcp', 'fragments'):
            p.add_argument('--dport', type=int, required=True)
        if name == 'tcp':
            for field in ('sport', 'seq', 'ack'):
                p.add_argument('--' + field, type=int, required=True)
        if name == 'fragments':
            p.add_argument('--overlap', action='store_true')
        if name == 'icmp-error':
            for field in ('about-src', 'about-dst'):
                p.add_argument('--' + field, required=True)
            for field in ('about-sport', 'about-dport'):
                p.add_argument('--' + field, type=int, required=True)
    args = ap.parse_args(argv)
    from scapy.sendrecv import sendp
    frame = dict(ip=inner, tunnel=encapsulated, tcp=tcp_segment, fragments=fragments,
                 **{'icmp-error': icmp_error})[args.kind](args)
    sendp(frame, iface=args.iface, count=args.count, inter=0.05, verbose=False)
    print(f'sent {args.count}')


if __name__ == '__main__':
    sys.exit(main())
