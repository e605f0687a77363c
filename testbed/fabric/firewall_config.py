"""The firewall and routing part of the controller configuration, from the topology model."""
import dataclasses
import hashlib

from testbed.fabric import edge_plan


def rule(r):
    return dict(protocol=r.protocol, ports=list(r.ports) if r.ports else None, peer=r.peer,
                number=r.number, action=r.action)


def security_groups(vpc):
    """name -> {inbound: [rule], outbound: [rule]} of one VPC."""
    return {g.name: dict(inbound=[rule(r) for r in g.inbound], outbound=[rule(r) for r in g.outbound])
            for g in vpc.security_groups.values()}


def account_id(account):
    """A 12-digit AWS-like account id, the same for the same account name."""
    number = int(hashlib.sha256(account.encode()).hexdigest()[:12], 16) % 10 ** 12
    return f'{number:012d}'


def subnets(topo):
    """subnet id -> what a hypervisor needs to know about it: its index (the pipeline's subnet
    register), network ACL, route table, whether its VPC keeps flow logs, and the edge host its
    gateway routes go to."""
    out = {}
    for index, (vpc, subnet) in enumerate(((v, s) for v in topo.vpcs.values() for s in v.subnets.values()),
                                          start=1):
        acl = vpc.network_acl_of(subnet.name)
        out[subnet.id] = dict(
            index=index, vni=vpc.vni, cidr=subnet.cidr, flow_logs=vpc.flow_log_interval_s is not None,
            acl=None if acl is None else dict(inbound=[rule(r) for r in acl.inbound],
                                              outbound=[rule(r) for r in acl.outbound]),
            routes=[route(topo, vpc, r) for r in vpc.route_table_of(subnet.name).routes],
            edge_ip=edge_plan.edge_ip() if edge_plan.uses_edge(vpc) else None,   # igw, vgw, dx:, vpce: go there
            edge_ips=[edge_plan.edge_ip(k) for k in range(1, edge_plan.edge_count(topo) + 1)]
            if edge_plan.uses_edge(vpc) else [])                                # igw, vpce: spread over these
    return out


def route(topo, vpc, r):
    """{destination, target}, and for a pcx: route the VNI of the VPC at the peering's other end: the
    data plane sends a peered destination to the VPC its sender's route table names."""
    out = dataclasses.asdict(r)
    kind, _, peering = r.target.partition(':')
    if kind == 'pcx':
        ends = next(p.vpcs for p in topo.peerings if p.name == peering)
        out['vni'] = topo.vpcs[ends[1] if ends[0] == vpc.name else ends[0]].vni
    return out
