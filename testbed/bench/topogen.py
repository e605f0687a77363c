"""Topologies generated in code for experiments: a fabric of R racks x H hosts and VPCs
whose instances are pinned to the hosts an experiment names."""
import yaml

from testbed.topology import loads

AZ = 'use1-az1'
ALLOW_ALL = {'inbound': [{'protocol': 'all', 'from': '0.0.0.0/0'}],
             'outbound': [{'protocol': 'all', 'to': '0.0.0.0/0'}]}


def host_names(racks, hosts_per_rack):
    return [f'r{r}-h{h}' for r in range(1, racks + 1) for h in range(1, hosts_per_rack + 1)]


def generate(name, racks, hosts_per_rack, vpcs, mtu=9001, mode='proactive', links=None,
             spines=1, security_groups=False):
    """vpcs: {vpc name: [host of each instance, ...]}; instances are named <vpc>-<n> in
    that order.  Every VPC uses 10.0.0.0/16 (they are not peered, so they may overlap).
    security_groups=True gives every instance an allow-all group: the hook for the
    firewall (issue 3), refused by loaders that do not know security groups yet."""
    doc = dict(format=1, name=name, mode=mode, mtu=mtu, fabric=dict(
        spines=spines, azs={AZ: dict(racks={
            f'r{r}': dict(hosts=hosts_per_rack, vcpus=4096, memory_gib=16384)
            for r in range(1, racks + 1)})}))
    if links:
        doc['fabric']['links'] = links
    doc['vpcs'] = {}
    for vpc, hosts in vpcs.items():
        spec = dict(cidr='10.0.0.0/16', subnets={vpc + '-a': dict(cidr='10.0.0.0/16', az=AZ)})
        instances = {}
        for n, host in enumerate(hosts, start=1):
            instances[f'{vpc}-{n}'] = dict(subnet=vpc + '-a', type='t2.micro', host=host)
            if security_groups:
                instances[f'{vpc}-{n}']['security_groups'] = ['allow-all']
        if security_groups:
            spec['security_groups'] = {'allow-all': ALLOW_ALL}
        spec['instances'] = instances
        doc['vpcs'][vpc] = spec
    return loads(yaml.safe_dump(doc, sort_keys=False), f'<generated {name}>')
