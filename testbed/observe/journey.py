"""Observations of one packet's journey, shared by `vpclab demo`, the tests and labs.

Each function does one step for real and returns what was observed."""
import subprocess
import sys

from testbed.fabric.names import nic_mac
from testbed.observe.capture import Capture, tunnel_summary
from testbed.observe.flows import dump_flows

TUNNEL_BPF = 'udp port 6081 or udp port 4789 or arp'


def pick_pair(topo, cross_rack=True):
    """Two instances of one VPC on different physical hosts (different racks if we can)."""
    best = None
    for vpc in topo.vpcs.values():
        insts = list(vpc.instances.values())
        for a in insts:
            for b in insts:
                if a.host == b.host:
                    continue
                rank = (topo.hosts[a.host].rack != topo.hosts[b.host].rack) == cross_rack
                if best is None or (rank and not best[0]):
                    best = (rank, a, b)
    if best is None:
        raise ValueError('the topology has no VPC with instances on two physical hosts')
    return best[1], best[2]


def flow_packets(lab, host, table, match_text):
    """n_packets of the flows in `table` of `host`'s bridge whose text contains all of
    `match_text` (ovs-ofctl's own words, e.g. 'arp_tpa=10.0.1.11')."""
    text = dump_flows(lab.bridge(host), table)
    total = 0
    for line in text.splitlines():
        if all(m in line for m in match_text):
            total += int(line.split('n_packets=')[1].split(',')[0])
    return total


def ping_totals(out):
    """(transmitted, received) from ping's closing lines; (0, 0) if it printed none."""
    if ' received' not in out:
        return 0, 0
    return (int(out.split(' packets transmitted')[0].split()[-1]),
            int(out.split(' received')[0].split()[-1]))


def ping(node, ip, count=3, interval=0.2, wait=1):
    out = node.cmd(f'ping -n -c {count} -i {interval} -W {wait} {ip}')
    received = ping_totals(out)[1]
    rtts = [float(w.split('=')[1]) for w in out.split() if w.startswith('time=')]
    return received, rtts, out


def observe_ping(lab, a, b, count=3):
    """Ping b from a with the underlay captured on both hosts' NICs."""
    with Capture(lab.nic(a.host), TUNNEL_BPF) as out_cap, \
            Capture(lab.nic(b.host), TUNNEL_BPF) as in_cap:
        received, rtts, _ = ping(lab.node(a.name), b.ip, count)
    return dict(received=received, rtts=rtts,
                sent_on_wire=[tunnel_summary(p) for p in out_cap.packets],
                arrived_on_wire=[tunnel_summary(p) for p in in_cap.packets],
                arp_on_wire=sum(1 for p in out_cap.packets + in_cap.packets
                                if p.haslayer('ARP')))


def arp_entry(node, ip):
    out = node.cmd(f'ip neigh show {ip}').split()
    return out[out.index('lladdr') + 1] if 'lladdr' in out else None


def send_spoofed(lab, a, dst, src_ip=None, src_mac=None, count=3):
    node = lab.node(a.name)
    return node.cmd(f'{sys.executable} -m testbed.observe.craft ip --iface eth0 --count {count} '
                    f'--src-mac {src_mac or a.mac} --dst-mac {dst.mac} --src-ip {src_ip or a.ip} --dst-ip {dst.ip}')


def inject_tunnel(lab, victim, vni, outer_src_host, inner_src_ip, inner_src_mac, count=3):
    """Put a forged encapsulated packet on the victim host's NIC cable (from the ToR
    side), as if `outer_src_host` had sent it over the fabric."""
    topo = lab.topology
    y, x = topo.hosts[victim.host], topo.hosts[outer_src_host]
    cable = lab.nic_inject(victim.host)
    cmd = [sys.executable, '-m', 'testbed.observe.craft', 'tunnel', '--iface', cable,
           '--count', str(count), '--outer-src', x.underlay_ip, '--outer-dst', y.underlay_ip,
           '--outer-dst-mac', nic_mac(y), '--vni', str(vni),
           '--encapsulation', topo.encapsulation, '--src-mac', inner_src_mac,
           '--dst-mac', victim.mac, '--src-ip', inner_src_ip, '--dst-ip', victim.ip]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def drops(lab, host, reason):
    return lab.api.cache(host)['drops'].get(reason, 0)
