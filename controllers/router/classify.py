"""CLASSIFY: where did the packet enter?  An instance port admits only the instance's own MAC and
IP (anti-spoofing) and tags the packet with its VPC (metadata = VNI), its ENI (REG_SRC_ENI) and
its subnet (REG_SUBNET); the tunnel port sends encapsulated packets to the receiving check."""
from controllers import pipeline as P
from controllers.alerts import Alert
from controllers.compat import arp, ethernet, ipv4
from controllers.router import ofp


def base():
    return [ofp.drop(P.CLASSIFY, 0, ofp.match(), 'unknown-port'),
            # step 7 begins where encapsulated packets come in
            ofp.flow(P.CLASSIFY, 100, ofp.match(in_port=P.TUNNEL_PORT), goto=P.CHECK, cookie=P.cookie(P.KIND_BASE))]


def plug(e, port, subnet_index):
    owner = P.cookie(P.KIND_LOCAL, e.ident)
    tags = [ofp.set_field(**{P.REG_SRC_ENI: e.ident}), ofp.set_field(**{P.REG_SUBNET: subnet_index})]
    # untagged only: OVS matches eth_type past an 802.1Q tag, so without vlan_vid a tagged frame
    # from the instance's own addresses would pass (and carry its tag across the VPC)
    untagged = dict(in_port=port, eth_src=e.mac, vlan_vid=ofp.NO_VLAN)
    out = [ofp.flow(P.CLASSIFY, 100, ofp.match(**untagged, eth_type=ofp.IP, ipv4_src=e.ip),
                    tags, metadata=e.vni, goto=P.EGRESS_SG, cookie=owner),
           ofp.flow(P.CLASSIFY, 100, ofp.match(**untagged, eth_type=ofp.ARP_TYPE, arp_spa=e.ip, arp_sha=e.mac),
                    tags[:1], metadata=e.vni, goto=P.ARP, cookie=owner),
           # a VPC carries no VLANs: a tagged frame is unsupported, whatever it claims to be
           ofp.drop(P.CLASSIFY, 40, ofp.match(in_port=port, vlan_vid=ofp.ANY_VLAN), 'unsupported-protocol')]
    # anything else from the port is spoofed, except non-IPv4 frames from the instance's own
    # MAC (this VPC carries IPv4 only): those are just unsupported.  Spoofed packets are sampled
    # to the controller (metered per ENI: one tenant's noise hides nobody else's alert), which raises
    # the alert.
    sample = dict(actions=[ofp.to_controller()], meter=P.eni_alert_meter(e.ident))    # its own meter
    out += [ofp.drop(P.CLASSIFY, 30, ofp.match(in_port=port, eth_type=t), 'spoofed-source', **sample)
            for t in (ofp.IP, ofp.ARP_TYPE)]
    out.append(ofp.drop(P.CLASSIFY, 20, ofp.match(in_port=port, eth_src=e.mac), 'unsupported-protocol'))
    out.append(ofp.drop(P.CLASSIFY, 10, ofp.match(in_port=port), 'spoofed-source', **sample))
    return out


def unplug(port):
    return [ofp.delete(table=P.CLASSIFY, match=ofp.match(in_port=port))]


def spoofed(local, in_port, pkt):
    """The alert for a spoofed packet's sample; `local`: the instance on that port, if known."""
    eth = pkt.get_protocol(ethernet.ethernet)
    ip, a = pkt.get_protocol(ipv4.ipv4), pkt.get_protocol(arp.arp)
    src_ip = ip.src if ip else (a.src_ip if a else '-')
    who = f'{local.instance} ({local.eni}, {local.ip} {local.mac})' if local else f'port {in_port}'
    return Alert('spoofed-source', f'{eth.src}/{src_ip}',
                 f'instance {who} sent from {src_ip} {eth.src}, not its own address')
