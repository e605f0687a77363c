"""`vpclab demo`: one packet's journey through the VPC, step by step, with what was
really observed on this machine (steps 1-8 of docs/journey.md)."""
import ipaddress
from contextlib import nullcontext

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.capture import Capture, tunnel_summary


def narrate(topology_path, out=print, mode=None, keep=None):
    with Lab(topology_path, mode=mode, keep=keep, progress=lambda m: out('   ... ' + m)) as lab:
        topo = lab.topology
        out(f'vpclab demo: {topo.name} ({topo.mode} mode, {topo.encapsulation}): {len(topo.vpcs)} VPCs, '
            f'{len(topo.instances())} instances on {len(topo.hosts)} physical hosts, '
            f'up in {lab.timings["ready_s"]:.1f} s')
        a, b = journey.pick_pair(topo)
        vpc = topo.vpcs[a.vpc]
        ha, hb = topo.hosts[a.host], topo.hosts[b.host]
        for label, inst, host in (('\nInstance A', a, ha), ('Instance B', b, hb)):
            out(f'{label} = {inst.name} ({inst.ip}, {inst.mac}) on physical host {host.name} '
                f'(underlay {host.underlay_ip}, rack {host.rack})')
        out(f'Both in VPC {vpc.name} ({vpc.id}, VNI {vpc.vni})\n')

        node_a = lab.node(a.name)
        node_a.cmd('ip neigh flush dev eth0')
        arp_before = journey.flow_packets(lab, a.host, P.ARP, [f'arp_tpa={b.ip}'])
        check_before = journey.flow_packets(lab, b.host, P.CHECK,
                                            [f'tun_src={ha.underlay_ip}', f'nw_src={a.ip}'])
        twin = next((i for i in topo.instances() if i.ip == b.ip and i.vpc != b.vpc), None)
        with Capture('eth0', 'icmp', node=lab.node(twin.name)) if twin else nullcontext() \
                as twin_cap:
            seen = journey.observe_ping(lab, a, b, count=3)
        arp_after = journey.flow_packets(lab, a.host, P.ARP, [f'arp_tpa={b.ip}'])
        check_after = journey.flow_packets(lab, b.host, P.CHECK,
                                           [f'tun_src={ha.underlay_ip}', f'nw_src={a.ip}'])
        mac = journey.arp_entry(node_a, b.ip)
        out(f'1-3. A asked "who has {b.ip}?"; the hypervisor on {ha.name} answered it from its cache '
            f'({arp_after - arp_before} ARP request(s) answered on the host).')
        out(f'     A now believes {b.ip} is at {mac} (B\'s real MAC: {b.mac}). ARP frames seen on the '
            f'underlay: {seen["arp_on_wire"]}.')
        wire = [s for s in seen['sent_on_wire'] if s and s[3] == a.ip]
        out(f'4-6. A sent 3 ping(s). The hypervisor looked up B (VPC {vpc.vni}, {b.ip}) -> host {hb.name} and '
            'encapsulated:')
        for s in wire[:1]:
            out(f'     captured on {lab.nic(a.host)}: outer {s[0]} -> {s[1]}, {topo.encapsulation} VNI {s[2]}, '
                f'inner {s[3]} -> {s[4]}')
        out(f'7.   On {hb.name} the receiving check matched (VNI {vpc.vni}, {a.ip}, {a.mac} from {ha.underlay_ip}) '
            f'for {check_after - check_before} packet(s).')
        out(f'8.   Decapsulated and delivered: {seen["received"]} of 3 replies, RTT '
            f'{", ".join(f"{r:.2f}" for r in seen["rtts"])} ms.')

        spoof_before = journey.drops(lab, a.host, 'spoofed-source')
        journey.send_spoofed(lab, a, b, src_ip=_forged_ip(a, vpc), count=3)
        lab.wait_until(lambda: journey.drops(lab, a.host, 'spoofed-source') >= spoof_before + 3)
        alerts = [x for x in lab.api.alerts() if x['reason'] == 'spoofed-source']
        dropped = journey.drops(lab, a.host, 'spoofed-source') - spoof_before
        out(f'\nSpoofing: A sent 3 packets from the forged source {_forged_ip(a, vpc)}. The hypervisor on '
            f'{ha.name} dropped {dropped} (spoofed-source) and raised:')
        for x in alerts[-1:]:
            out(f'     ALERT on {x["host"]}: {x["detail"]}')
        if twin:
            out(f'\nIsolation: {twin.name} in VPC {twin.vpc} has the same IP {twin.ip} '
                f'(VNI {topo.vpcs[twin.vpc].vni}) and received {len(twin_cap.packets)} of A\'s packets.')
        m = lab.api.metrics()['mapping']
        out(f'\nThe mapping service: {m["registrations"]} instances registered, {m["pushes"]} mappings pushed to '
            f'hypervisors, {m["lookups"]} looked up on a miss ({m["lookup_hits"]} found), '
            f'{m["invalidations"]} invalidations.')
        _leave_the_vpc(lab, out)
    out('Lab stopped; nothing is left behind.')


def _forged_ip(a, vpc):
    """An address of A's subnet that is not A's."""
    net = ipaddress.ip_network(vpc.subnets[a.subnet].cidr)
    return next(str(ip) for ip in net.hosts() if str(ip) != a.ip and int(ip) - int(net[0]) > 3)


# ---- leaving the VPC: out through Blackfoot to an internet host and back ---------------------

def _leave_the_vpc(lab, out):
    """The journey on beyond step 8 (docs/journey.md, Blackfoot), if the topology has a way out."""
    topo = lab.topology
    internet = next(iter(topo.outside.internet.values()))
    found = [(v, e) for v in topo.vpcs.values() for e in v.elastic_ips.values() if e.instance and
             getattr(v.route_table_of(v.instances[e.instance].subnet).route_for(internet.ip), 'target', '') == 'igw']
    if not found or lab.edge is None:
        return
    vpc, eip = found[0]
    inst = vpc.instances[eip.instance]
    edge_ip = lab.edge.plan.edge_config['underlay']['ip']
    with Capture(lab.nic(lab.host_of(inst.name)), journey.TUNNEL_BPF) as under, \
            Capture('edge', 'icmp', node=lab.node(f'{lab.names.prefix}inet')) as beyond:
        received = journey.ping(lab.node(inst.name), internet.ip, count=2)[0]
    to_edge = [s for s in map(tunnel_summary, under.packets) if s and s[1] == edge_ip]
    out(f'\nLeaving the VPC: {inst.name} pinged {internet.name} ({internet.ip}) on the internet; its route '
        f'table sends 0.0.0.0/0 to the internet gateway, which runs on Blackfoot ({edge_ip}).')
    for s in to_edge[:1]:
        out(f'     before Blackfoot, on {lab.nic(lab.host_of(inst.name))}: outer {s[0]} -> {s[1]}, '
            f'{topo.encapsulation} VNI {s[2]}, inner {s[3]} -> {s[4]}')
    for p in beyond.packets[:2]:
        out(f'     after Blackfoot, on the internet: {p["IP"].src} -> {p["IP"].dst} '
            f'({"request" if p["ICMP"].type == 8 else "reply"}; elastic IP {eip.name} = {eip.address})')
    out(f'     {received} of 2 replies came back through Blackfoot, which turned {eip.address} back into '
        f'{inst.ip} and sent them to {lab.host_of(inst.name)} by the mapping service. Edge counters: '
        + ', '.join(f'{k} {v}' for k, v in sorted(lab.edge_counters().get('handler', {}).items())) + '.')
