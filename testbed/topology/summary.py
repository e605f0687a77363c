"""One line per way out of the VPCs, for `vpclab validate --placement` (after the instances)."""
from __future__ import annotations

from .model import Topology


def resource_lines(topo: Topology) -> list[str]:
    """Outside hosts, the edge and Hyperplane, S3, private zones, and each VPC's gateways, briefly."""
    lines = [f"internet host {h.name} {h.ip}" + (f" ({h.dns_name})" if h.dns_name else "")
             for h in topo.outside.internet.values()]
    for site in topo.outside.sites.values():
        hosts = ", ".join(f"{h.name} {h.ip}" for h in site.hosts.values())
        lines.append(f"site {site.name} {site.cidr}" + (f": {hosts}" if hosts else ""))
    hp = topo.hyperplane
    lines.append(f"edge {topo.edge.nodes} node(s); hyperplane {hp.nodes} node(s), shard size {hp.shard_size}; "
                 f"s3 {topo.services.s3_cidr} at {topo.services.s3_ip}")
    lines += [f"private zone {z.name} for {', '.join(z.vpcs)}: {len(z.records)} record(s)"
              for z in topo.dns.private_zones.values()]
    for vpc in topo.vpcs.values():
        lines += [f"{vpc.name}: {line}" for line in _vpc_lines(vpc)]
    return lines


def _vpc_lines(vpc) -> list[str]:
    lines = [f"internet gateway {vpc.internet_gateway}"] if vpc.internet_gateway else []
    lines += ["dhcp"] if vpc.dhcp else []
    lines += [f"elastic IP {e.name} {e.address}" + (f" -> {e.instance}" if e.instance else "")
              for e in vpc.elastic_ips.values()]
    lines += [f"NAT gateway {n.name} in {n.subnet} at {n.ip}, public {vpc.elastic_ips[n.elastic_ip].address}"
              for n in vpc.nat_gateways.values()]
    lines += [f"VPN {c.name} -> site {c.site}" for c in vpc.vpn_connections.values()]
    lines += [f"Direct Connect {c.name} -> site {c.site}, VLAN {c.vlan}" for c in vpc.direct_connect.values()]
    for ep in vpc.endpoints.values():
        where = f"routes {', '.join(ep.route_tables) or 'none'}" if ep.type == "gateway" else f"{ep.subnet} {ep.ip}"
        lines.append(f"{ep.type} endpoint {ep.name} -> {ep.service} ({where})")
    for lb in vpc.load_balancers.values():
        nodes = ", ".join(a.ip + (f"/{a.public_ip}" if a.public_ip else "") for a in lb.addresses)
        listens = ", ".join(f":{li.port}->{li.target_port} {'+'.join(li.targets) or 'no targets'}"
                            for li in lb.listeners)
        lines.append(f"load balancer {lb.name} ({lb.scheme}) at {nodes}" + (f": {listens}" if listens else ""))
    lines += [f"endpoint service {s.name} on {s.load_balancer}" for s in vpc.endpoint_services.values()]
    return lines
