"""`ovs-appctl ofproto/trace` for `vpclab trace --wire`: the flows OVS says a packet with exactly the traced
packet's fields meets on one bridge (conntrack resumes as +trk+new: the first packet of a connection), to
tell which of several counted flows of a table was the packet's."""
import re
import subprocess

from controllers import pipeline as P

LINE = re.compile(r'^\s*(\d+)\. (?:(.*), )?priority (\d+)(?:, cookie (0x[0-9a-f]+))?\s*$')


def parse_path(text):
    """{(table, priority, cookie, match)} of the flows an ofproto/trace output names."""
    out = set()
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            out.add((int(m.group(1)), int(m.group(3)), m.group(4) or '0x0', m.group(2) or ''))
    return out


def ofproto_path(bridge, fields):
    out = subprocess.run(['ovs-appctl', 'ofproto/trace', bridge, fields], capture_output=True, text=True,
                         timeout=20)
    return parse_path(out.stdout) if out.returncode == 0 else set()


def ofport(port_name):
    out = subprocess.run(['ovs-vsctl', '--timeout=5', 'get', 'Interface', port_name, 'ofport'],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def arrival_fields(topo, host, arrival):
    """The ofproto/trace flow of what an edge node sent into a VPC (the model's arrival: VNI, edge node,
    host, IPv4 bytes, destination MAC) as it enters `host`'s bridge from the tunnel."""
    from testbed.appliances import packets as p
    from testbed.fabric import edge_plan
    vni, edge, _, pkt, mac = arrival
    proto, at = pkt[9], (pkt[0] & 0xf) * 4
    ports = int.from_bytes(pkt[at:at + 2], 'big'), int.from_bytes(pkt[at + 2:at + 4], 'big')
    l4 = {6: f'tcp,tp_src={ports[0]},tp_dst={ports[1]},tcp_flags=0x002', 17: f'udp,tp_src={ports[0]},tp_dst={ports[1]}',
          1: 'icmp,icmp_type=8,icmp_code=0'}[proto]
    edge_ip = edge_plan.edge_ip(1 if edge == 'edge*' else int(edge[4:]))
    return (f'in_port={P.TUNNEL_PORT},tun_id={vni},tun_src={edge_ip},tun_dst={topo.hosts[host].underlay_ip},{l4},'
            f'nw_src={p.ip4_text(pkt[12:16])},nw_dst={p.ip4_text(pkt[16:20])},dl_src={P.ROUTER_MAC},dl_dst={mac}')


def packet_fields(packet, side, topo, host):
    """The ofproto/trace flow of the traced packet as it enters `host`'s bridge on `side`."""
    src, target = packet.src, packet.target
    l4 = {'tcp': f'tcp,tp_src={packet.probe.sport},tp_dst={packet.probe.port},tcp_flags=0x002',
          'udp': f'udp,tp_src={packet.probe.sport},tp_dst={packet.probe.port}',
          'icmp': 'icmp,icmp_type=8,icmp_code=0'}[packet.proto]
    common = f'{l4},nw_src={src["ip"]},nw_dst={packet.dst_ip},dl_src={src["mac"]}'
    if side == 'leaving':
        return f'in_port={ofport(src["port_name"])},{common},dl_dst={packet.dst_mac}'
    outer = topo.hosts[packet.from_host or src['host']].underlay_ip
    return (f'in_port={P.TUNNEL_PORT},tun_id={packet.vni},tun_src={outer},tun_dst={topo.hosts[host].underlay_ip},'
            f'{common},dl_dst={target["mac"] if target else packet.dst_mac}')
