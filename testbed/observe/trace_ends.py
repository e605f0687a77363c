"""The two ends of a trace, by name as the topology file has them (an instance, an elastic IP, a load
balancer, an endpoint, an outside host) or by address."""
import ipaddress
from dataclasses import dataclass

from testbed.errors import UsageError
from testbed.fabric import edge_plan

KINDS = ('instance', 'elastic-ip', 'load-balancer', 'outside', 'address')


@dataclass(frozen=True)
class End:
    kind: str               # one of KINDS
    name: str               # as given
    ip: str
    instance: object = None  # the model Instance it is (or is mapped to, for an elastic IP)
    what: str = ''          # what the address is, when it is no instance's (for a no-mapping's explanation)

    @property
    def label(self):
        return self.name if self.kind in ('instance', 'address') else f'{self.name} ({self.ip})'


def resolve(topo, name, role, src=None):
    """The End named `name`; UsageError (exit 2) when the file names nothing so.  src (for the
    destination): the source's name, whose VPC an address is read in."""
    for vpc in topo.vpcs.values():
        if name in vpc.instances:
            i = vpc.instances[name]
            return End('instance', name, i.ip, i, _address_of(topo, i.ip, src, skip=i))
        if name in vpc.elastic_ips:
            e = vpc.elastic_ips[name]
            return End('elastic-ip', name, e.address, vpc.instances.get(e.instance),
                       f'elastic IP {name}' + (f' of {e.instance}' if e.instance else ', free'))
        if name in vpc.load_balancers:
            lb = vpc.load_balancers[name]
            node = lb.addresses[0]
            return End('load-balancer', name, node.ip, None,
                       f'load balancer {name}\'s node in {node.subnet} (Hyperplane)')
        if name in vpc.endpoints:
            if role == 'source':
                raise UsageError(f'source {name!r}: an endpoint is no source; trace from an instance to it')
            ep = vpc.endpoints[name]
            if ep.type == 'gateway':        # it leads to S3, as a check's `to:` does
                return End('outside', name, topo.services.s3_ip, None, f'the S3 host, by gateway endpoint {name}')
            return End('address', name, ep.ip, None, f'interface endpoint {name}')
    hosts = topo.outside.hosts()
    if name in hosts:
        return End('outside', name, hosts[name].ip, None, f'outside host {name}')
    if name == topo.services.s3_host and edge_plan.needed(topo):
        return End('outside', name, topo.services.s3_ip, None, 'the S3 host')
    try:
        ip = str(ipaddress.IPv4Address(name))
    except ValueError:
        raise UsageError(f'{role} {name!r}: no instance, elastic IP, load balancer, endpoint or outside host of '
                         f'{topo.path} is called so, and it is no IPv4 address') from None
    for vpc in topo.vpcs.values():
        for e in vpc.elastic_ips.values():
            if e.address == ip:
                return End('elastic-ip', name, ip, vpc.instances.get(e.instance), f'elastic IP {e.name}')
    for host in hosts.values():
        if host.ip == ip:
            return End('outside', name, ip, None, f'outside host {host.name}')
    if role == 'source':
        raise UsageError(f'source {name!r}: give an instance (or an elastic IP, load balancer or outside host) '
                         'by name: a bare address sends from nowhere')
    found = _address_of(topo, ip, src)
    return End('address', name, ip, None, found)


def _address_of(topo, ip, src, skip=None):
    """What `ip` is in the VPC of the source (and its peers), if it is no instance there."""
    try:
        vpc = topo.vpc_of(src) if src else None
    except KeyError:
        vpc = None
    if vpc is None:
        return ''
    owners = [v for v in topo.vpcs.values() if v.name == vpc.name or topo.peered(vpc.name, v.name)]
    for v in owners:
        for lb in v.load_balancers.values():
            for node in lb.addresses:
                if node.ip == ip:
                    return f'load balancer {lb.name}\'s node in {node.subnet}: Hyperplane has no mapping here'
        for ep in v.endpoints.values():
            if ep.ip == ip:
                return f'interface endpoint {ep.name}: PrivateLink has no mapping here'
        for nat in v.nat_gateways.values():
            if nat.ip == ip:
                return f'NAT gateway {nat.name}: Hyperplane has no mapping here'
        for subnet in v.subnets.values():
            role = subnet.reserved.get(ipaddress.IPv4Address(ip))
            if role and v.name == vpc.name:
                return f'{subnet.name}\'s {role}'
    if skip is not None and skip.vpc != vpc.name and not topo.peered(vpc.name, skip.vpc):
        return f'{skip.name}\'s address in VPC {skip.vpc}, which {vpc.name} is not peered with'
    return ''
