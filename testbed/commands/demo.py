"""`vpclab demo`: one packet's journey through the VPC, step by step, with what was
really observed on this machine (seed 000, steps 1-8)."""
import ipaddress
from contextlib import nullcontext

from controllers import pipeline as P
from testbed.lab import Lab
from testbed.observe import journey
from testbed.observe.capture import Capture


def narrate(topology_path, out=print, mode=None):
    with Lab(topology_path, mode=mode, progress=lambda m: out('   ... ' + m)) as lab:
        topo = lab.topology
        out('vpclab demo: %s (%s mode, %s): %d VPCs, %d instances on %d physical hosts, '
            'up in %.1f s' % (topo.name, topo.mode, topo.encapsulation, len(topo.vpcs),
                              len(topo.instances()), len(topo.hosts), lab.timings['ready_s']))
        a, b = journey.pick_pair(topo)
        vpc = topo.vpcs[a.vpc]
        ha, hb = topo.hosts[a.host], topo.hosts[b.host]
        out(f'\nInstance A = {a.name} ({a.ip}, {a.mac}) on physical host {ha.name} (underlay {ha.underlay_ip}, rack {ha.rack})')
        out(f'Instance B = {b.name} ({b.ip}, {b.mac}) on physical host {hb.name} (underlay {hb.underlay_ip}, rack {hb.rack})')
        out('Both in VPC %s (%s, VNI %d)\n' % (vpc.name, vpc.id, vpc.vni))

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
        out('1-3. A asked "who has %s?"; the hypervisor on %s answered it from its cache '
            '(%d ARP request(s) answered on the host).' % (b.ip, ha.name, arp_after - arp_before))
        out('     A now believes %s is at %s (B\'s real MAC: %s). ARP frames seen on the '
            'underlay: %d.' % (b.ip, mac, b.mac, seen['arp_on_wire']))
        wire = [s for s in seen['sent_on_wire'] if s and s[3] == a.ip]
        out('4-6. A sent %d ping(s). The hypervisor looked up B (VPC %d, %s) -> host %s and '
            'encapsulated:' % (3, vpc.vni, b.ip, hb.name))
        for s in wire[:1]:
            out('     captured on %s: outer %s -> %s, %s VNI %d, inner %s -> %s'
                % (lab.nic(a.host), s[0], s[1], topo.encapsulation, s[2], s[3], s[4]))
        out('7.   On %s the receiving check matched (VNI %d, %s, %s from %s) for %d packet(s).'
            % (hb.name, vpc.vni, a.ip, a.mac, ha.underlay_ip, check_after - check_before))
        out('8.   Decapsulated and delivered: %d of 3 replies, RTT %s ms.'
            % (seen['received'], ', '.join(f'{r:.2f}' for r in seen['rtts'])))

        spoof_before = journey.drops(lab, a.host, 'spoofed-source')
        journey.send_spoofed(lab, a, b, src_ip=_forged_ip(a, vpc), count=3)
        lab.wait_until(lambda: journey.drops(lab, a.host, 'spoofed-source') >= spoof_before + 3)
        alerts = [x for x in lab.api.alerts() if x['reason'] == 'spoofed-source']
        out('\nSpoofing: A sent 3 packets from the forged source %s. The hypervisor on %s '
            'dropped %d (spoofed-source) and raised:' % (
                _forged_ip(a, vpc), ha.name,
                journey.drops(lab, a.host, 'spoofed-source') - spoof_before))
        for x in alerts[-1:]:
            out('     ALERT on {}: {}'.format(x['host'], x['detail']))
        if twin:
            out('\nIsolation: %s in VPC %s has the same IP %s (VNI %d) and received %d of A\'s '
                'packets.' % (twin.name, twin.vpc, twin.ip, topo.vpcs[twin.vpc].vni,
                              len(twin_cap.packets)))
        out('\nMetrics: {}'.format(lab.api.metrics()['mapping']))
    out('Lab stopped; nothing is left behind.')


def _forged_ip(a, vpc):
    """An address of A's subnet that is not A's."""
    net = ipaddress.ip_network(vpc.subnets[a.subnet].cidr)
    return next(str(ip) for ip in net.hosts() if str(ip) != a.ip and int(ip) - int(net[0]) > 3)
