"""The physical network: every host's NIC, its rack's ToR switch, and the spines.

All underlay IPs sit on the LOCAL port of one userspace bridge (ul0), because OVS's
native tunnelling needs the tunnel source to be a local address (docs/platform.md).
ul0 then plays every host's NIC: it sends each encapsulated packet out of the cable of
the host whose IP is the outer source, and hands packets for a host back to LOCAL,
where OVS decapsulates them into that host's tunnel port.  ToRs and spines forward by
destination NIC MAC with static flows: no flooding, no loops, no learning.

Port numbers: ul0 port i = NIC cable of host i; ToR port i = host i; ToR port 1000+k =
uplink to spine k; spine port r = ToR r.
"""
from testbed.fabric.names import nic_mac

UPLINK_BASE = 1000


def rack_indexes(topo):
    return {name: i for i, name in enumerate(topo.racks, start=1)}


def spine_for(host, spines):
    """Traffic to a host always crosses the same spine (deterministic, spread by host)."""
    return host.index % spines + 1


def arp_responder(ip, mac):
    """Answer OVS's own neighbour resolution (when a tnl/neigh entry ages out)."""
    return (f'priority=200,in_port=LOCAL,arp,arp_op=1,arp_tpa={ip},actions='
            f'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:{mac},'
            'load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],'
            f'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:{mac}->arp_sha,'
            f'set_field:{ip}->arp_spa,IN_PORT')


def egress_flow(h, copy_to=None):
    """ul0: what host h's stack sends (outer source h) leaves on h's cable, with h's NIC MAC;
    copy_to: also a copy to that port (a capture, testbed/fabric/cables.py)."""
    copy = f'output:{copy_to},' if copy_to else ''
    return (f'priority=100,in_port=LOCAL,ip,nw_src={h.underlay_ip},actions=mod_dl_src:{nic_mac(h)},'
            f'{copy}output:{h.index}')


def ingress_flow(h, ul0_mac, in_port=None, copy_to=None):
    """ul0: what arrives on h's cable (or `in_port`) for h goes up to LOCAL, which decapsulates."""
    copy = f'output:{copy_to},' if copy_to else ''
    return (f'priority=100,in_port={in_port or h.index},ip,dl_dst={nic_mac(h)},nw_dst={h.underlay_ip},'
            f'actions={copy}mod_dl_dst:{ul0_mac},LOCAL')


def ul0_flows(topo, ul0_mac):
    flows = []
    for h in topo.hosts.values():
        flows += [egress_flow(h), ingress_flow(h, ul0_mac), arp_responder(h.underlay_ip, nic_mac(h))]
    return flows


def capture_flows(h, ul0_mac, port):
    """ul0 flows that copy both directions of h's cable to `port` (and anything else arriving on
    the cable, which ul0 then drops, as a veth capture would show it), and let frames sent into
    `port` arrive as if from the cable (forged packets from the ToR side)."""
    return [egress_flow(h, copy_to=port), ingress_flow(h, ul0_mac, copy_to=port),
            ingress_flow(h, ul0_mac, in_port=port), f'priority=1,in_port={h.index},actions=output:{port}']


def tor_flows(topo, rack):
    flows = []
    for h in topo.hosts.values():
        out = h.index if h.rack == rack else UPLINK_BASE + spine_for(h, topo.spines)
        flows.append(f'priority=100,dl_dst={nic_mac(h)},actions=output:{out}')
    return flows


def spine_flows(topo):
    racks = rack_indexes(topo)
    return [f'priority=100,dl_dst={nic_mac(h)},actions=output:{racks[h.rack]}'
            for h in topo.hosts.values()]
