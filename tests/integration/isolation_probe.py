"""Run inside an instance (tests/integration/test_isolation.py): everything an instance can
send at the lab host's own stack, on its own interface, with scapy.

    python isolation_probe.py VETH_MAC TCP_PORT UDP_PORT ADDRESS...

VETH_MAC is the MAC of the instance cable's root-namespace end (the worst case: the instance
knows it); ADDRESS are the host's IPv4 addresses.  Prints one JSON line: how many frames it
sent and what it heard from VETH_MAC (the root namespace) while it did.
"""
import json
import socket
import subprocess
import sys
import time

from scapy.all import (
    ARP,
    ICMP,
    IP,
    TCP,
    UDP,
    AsyncSniffer,
    Ether,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    conf,
    get_if_hwaddr,
    in6_getnsma,
    in6_getnsmac,
    in6_mactoifaceid,
    inet_pton,
    sendp,
)

conf.verb = 0
IFACE = 'eth0'


def link_local(mac):
    return 'fe80::' + in6_mactoifaceid(mac)


def frames(veth_mac, tcp_port, udp_port, addresses, me_mac, me_ip):
    bcast = 'ff:ff:ff:ff:ff:ff'
    out = []
    for a in addresses:
        out += [Ether(dst=bcast, src=me_mac) / ARP(op=1, hwsrc=me_mac, psrc=me_ip, pdst=a),
                Ether(dst=bcast, src=me_mac) / ARP(op=1, hwsrc=me_mac, psrc='0.0.0.0', pdst=a)]
        for dst in (veth_mac, bcast):
            out += [Ether(dst=dst, src=me_mac) / IP(src=me_ip, dst=a) / ICMP(),
                    Ether(dst=dst, src=me_mac) / IP(src=me_ip, dst=a) / TCP(dport=tcp_port, flags='S'),
                    Ether(dst=dst, src=me_mac) / IP(src=me_ip, dst=a) / UDP(dport=udp_port) / b'probe']
    out.append(Ether(dst=bcast, src=me_mac) / IP(src='0.0.0.0', dst='255.255.255.255') /
               UDP(sport=68, dport=udp_port) / b'probe')
    out.append(Ether(dst='01:00:5e:00:00:01', src=me_mac) / IP(src=me_ip, dst='224.0.0.1') /
               UDP(dport=udp_port) / b'probe')
    target, mine = link_local(veth_mac), link_local(me_mac)
    nsma = in6_getnsma(inet_pton(socket.AF_INET6, target))
    solicited = socket.inet_ntop(socket.AF_INET6, nsma)
    out += [Ether(dst=in6_getnsmac(nsma), src=me_mac) / IPv6(src=mine, dst=solicited) /
            ICMPv6ND_NS(tgt=target) / ICMPv6NDOptSrcLLAddr(lladdr=me_mac),
            Ether(dst='33:33:00:00:00:01', src=me_mac) / IPv6(src=mine, dst='ff02::1') / ICMPv6EchoRequest(),
            Ether(dst=veth_mac, src=me_mac) / IPv6(src=mine, dst=target) / ICMPv6EchoRequest()]
    return out


def main(argv):
    veth_mac, tcp_port, udp_port, *addresses = argv
    me_mac = get_if_hwaddr(IFACE)
    me_ip = subprocess.run(['ip', '-4', '-o', 'addr', 'show', IFACE], capture_output=True,
                           text=True).stdout.split()[3].split('/')[0]
    sniffer = AsyncSniffer(iface=IFACE, lfilter=lambda p: p.haslayer(Ether) and p[Ether].src == veth_mac)
    sniffer.start()
    sent = frames(veth_mac, int(tcp_port), int(udp_port), addresses, me_mac, me_ip)
    for _ in range(2):
        sendp(sent, iface=IFACE)
    time.sleep(1.5)
    heard = sniffer.stop()
    print(json.dumps(dict(sent=2 * len(sent), heard=[p.summary() for p in heard])))


if __name__ == '__main__':
    main(sys.argv[1:])
