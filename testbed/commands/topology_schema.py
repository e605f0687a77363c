"""The JSON Schema of the topology format (schema/topology.schema.json), for editors: built from the
loader's own key lists, enums and limits, so that it follows the loader.  What only the loader can
check (CIDRs inside their VPC, overlaps, references between parts, placement) stays the loader's.

    python -m testbed.commands.topology_schema            # print it
    python -m testbed.commands.topology_schema --update   # rewrite schema/topology.schema.json

A key written with an empty value counts as left out (the loader's rule), so optional keys accept null."""
import json
import os
import sys

from testbed.topology import INSTANCE_TYPES, limits, loader, vpc_format
from testbed.topology.edge_model import HTTP_TOKENS, SCHEMES, STATE_STORES
from testbed.topology.firewall_format import (
    MAX_ACL_RULE,
    MAX_FLOW_LOG_INTERVAL,
    NAMED_TARGETS,
    PLAIN_TARGETS,
    PROTOCOLS,
)
from testbed.topology.gateway_format import GATEWAY_KEYS
from testbed.topology.model import ENCAPSULATIONS, LINK_KINDS, MODES, STRATEGIES, TENANCIES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PATH = os.path.join(ROOT, 'schema', 'topology.schema.json')
URL = '../schema/topology.schema.json'          # what topologies/*.yaml name in their modeline
MODELINE = f'# yaml-language-server: $schema={URL}'
NAME = {'type': 'string', 'pattern': '^[a-z0-9][a-z0-9-]*$'}
TEXT = {'type': ['string', 'number', 'boolean']}    # read as written


def integer(low=None, high=None):
    out = {'type': 'integer'}
    if low is not None:
        out['minimum'] = low
    if high is not None:
        out['maximum'] = high
    return out


def number(low, high):
    return {'type': 'number', 'minimum': low, 'maximum': high}


def enum(values):
    return {'enum': list(values)}


def cidr(low=0, high=32):
    return {'type': 'string', 'pattern': r'^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$',
            'description': f'an IPv4 CIDR block, /{low} to /{high}'}


def mapping(properties, required=(), description=None):
    """A mapping with fixed keys (the loader's `mapping`): unknown keys are refused."""
    out = {'type': 'object', 'additionalProperties': False,
           'properties': {k: v if k in required else {'anyOf': [{'type': 'null'}, v]} for k, v in properties.items()}}
    if required:
        out['required'] = list(required)
    if description:
        out['description'] = description
    return out


def named(value, max_length=None):
    """A mapping keyed by the names of things (the loader's `named`)."""
    names = dict(NAME, maxLength=max_length) if max_length else NAME
    return {'type': 'object', 'propertyNames': names, 'additionalProperties': value}


def listing(item):
    return {'type': 'array', 'items': item}


def rule(peer_key, acl=False):
    props = {'protocol': {'anyOf': [enum(PROTOCOLS), integer(0, 255)]},
             'ports': {'anyOf': [integer(0, 65535), {'type': 'string', 'pattern': '^[0-9]{1,5}(-[0-9]{1,5})?$'}]},
             peer_key: {'type': 'string'} if not acl else cidr()}
    required = ['protocol', peer_key]
    if acl:
        props.update(rule=integer(1, MAX_ACL_RULE), action=enum(('allow', 'deny')))
        required += ['rule', 'action']
    return mapping(props, required)


def directions(acl=False):
    return {'inbound': listing(rule('from', acl)), 'outbound': listing(rule('to', acl))}


def gateways():
    """A VPC's ways out and its shared services (docs/topology-format.md, "Leaving the VPC")."""
    ipv4 = {'type': 'string', 'format': 'ipv4'}
    site_link = {'site': NAME}
    service = {'type': 'string', 'pattern': '^(s3|[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*)$'}   # s3 or VPC/SERVICE
    out = {
        'internet_gateway': {'type': 'boolean'}, 'dhcp': {'type': 'boolean'},
        'elastic_ips': named({'anyOf': [{'type': 'null'}, mapping({'instance': NAME, 'address': ipv4})]}),
        'nat_gateways': named(mapping({'subnet': NAME, 'elastic_ip': NAME}, ['subnet', 'elastic_ip'])),
        'vpn_connections': named(mapping(site_link, ['site'])),
        'direct_connect': named(mapping(dict(site_link, vlan=integer(1, limits.MAX_VLAN)), ['site', 'vlan'])),
        'endpoints': named(mapping({'service': service, 'route_tables': listing(NAME), 'subnet': NAME},
                                   ['service'])),
        'load_balancers': named(mapping({
            'subnets': listing(NAME), 'scheme': enum(SCHEMES),
            'listeners': listing(mapping({'port': integer(1, 65535), 'protocol': enum(('tcp',)),
                                          'targets': listing(NAME), 'target_port': integer(1, 65535)},
                                         ['port', 'targets'])),
            'health_check': mapping({'port': integer(1, 65535),
                                     'interval_s': integer(1, limits.MAX_HEALTH_INTERVAL),
                                     'healthy': integer(*limits.HEALTH_THRESHOLDS),
                                     'unhealthy': integer(*limits.HEALTH_THRESHOLDS)})}, ['subnets', 'listeners'])),
        'endpoint_services': named(mapping({'load_balancer': NAME, 'allowed_accounts': listing(NAME)},
                                           ['load_balancer'])),
    }
    assert set(out) == set(GATEWAY_KEYS)
    return out


def leaving():
    """The networks outside the VPCs, the edge and Hyperplane, the lab's services, private DNS."""
    ipv4 = {'type': 'string', 'format': 'ipv4'}
    dns_name = {'type': 'string', 'maxLength': limits.MAX_DNS_NAME}
    host = mapping({'ip': ipv4, 'dns_name': dns_name})
    return {
        'outside': mapping({
            'internet': mapping({'hosts': named({'anyOf': [{'type': 'null'}, host]})}),
            'sites': named(mapping({'cidr': cidr(*limits.SITE_PREFIXES),
                                    'hosts': named(mapping({'ip': ipv4}))}, ['cidr']),
                           limits.MAX_SITE_NAME)}),
        'edge': mapping({'nodes': integer(1, limits.MAX_EDGE_NODES)}),
        'hyperplane': mapping({'nodes': integer(1, limits.MAX_HYPERPLANE_NODES),
                               'shard_size': integer(1, limits.MAX_HYPERPLANE_NODES),
                               'state_store': enum(STATE_STORES)}),
        'services': mapping({'s3': mapping({'cidr': cidr()})}),
        'dns': mapping({'private_zones': {'type': 'object', 'additionalProperties': mapping(
            {'vpcs': listing(NAME), 'records': named({'type': 'string'})},
            ['vpcs'])}}),
    }


def schema():
    rack = mapping({'hosts': integer(1, limits.MAX_HOSTS), 'vcpus': integer(1), 'memory_gib': integer(1)}, ['hosts'])
    link = mapping({'delay_ms': number(0, 10000), 'loss_percent': number(0, 100)}, ['delay_ms'])
    fabric = mapping({'spines': integer(1, limits.MAX_SPINES),
                      'links': mapping({kind: link for kind in LINK_KINDS}),
                      'azs': named(mapping({'racks': named(rack)}, ['racks']))}, ['azs'])
    instance = mapping({'subnet': NAME, 'ip': {'type': 'string', 'format': 'ipv4'}, 'type': enum(INSTANCE_TYPES),
                        'tenancy': enum(TENANCIES), 'placement_group': NAME,
                        'partition': integer(1, limits.MAX_PARTITIONS), 'host': NAME,
                        'security_groups': listing(NAME),
                        'metadata': mapping({'http_tokens': enum(HTTP_TOKENS),
                                             'hop_limit': integer(1, limits.MAX_HOP_LIMIT)})}, ['subnet'])
    assert set(instance['properties']) == set(vpc_format.INSTANCE_KEYS)
    target = {'type': 'string', 'pattern': f'^({"|".join(PLAIN_TARGETS)}|({"|".join(NAMED_TARGETS)}):.+)$'}
    vpc = mapping({
        'account': NAME, 'cidr': cidr(*limits.VPC_PREFIXES), 'vni': integer(1, limits.MAX_VNI),
        'subnets': named(mapping({'cidr': cidr(*limits.SUBNET_PREFIXES), 'az': NAME}, ['cidr', 'az'])),
        'placement_groups': named(mapping({'strategy': enum(STRATEGIES),
                                           'partitions': integer(1, limits.MAX_PARTITIONS)}, ['strategy'])),
        'instances': named(instance, limits.MAX_INSTANCE_NAME),
        'security_groups': named({'anyOf': [{'type': 'null'}, mapping(directions())]}),
        'network_acls': named(mapping({'subnets': listing(NAME), **directions(acl=True)}, ['subnets'])),
        'route_tables': named(mapping({'subnets': listing(NAME), 'routes': listing(
            mapping({'destination': cidr(), 'target': target}, ['destination', 'target']))}, ['subnets'])),
        'flow_logs': mapping({'interval_s': integer(1, MAX_FLOW_LOG_INTERVAL)}),
        **gateways(),
    }, ['cidr'])
    assert set(vpc['properties']) == set(vpc_format.VPC_KEYS)
    top = mapping({
        'format': {'const': 1}, 'name': dict(NAME, maxLength=limits.MAX_TOPOLOGY_NAME), 'region': NAME,
        'mode': enum(MODES), 'encapsulation': enum(ENCAPSULATIONS), 'mtu': integer(1280, 9001), 'fabric': fabric,
        'accounts': dict(listing(NAME), minItems=1, uniqueItems=True), 'vpcs': named(vpc),
        'peering': listing(mapping({'name': NAME, 'vpcs': dict(listing(NAME), minItems=2, maxItems=2)}, ['vpcs'])),
        **leaving(),
    }, ['fabric'], 'A vpclab topology (format 1): the physical fabric and the VPCs on it; docs/topology-format.md')
    assert set(top['properties']) == set(loader.TOP_KEYS)
    return {'$schema': 'https://json-schema.org/draft/2020-12/schema', '$id': 'vpclab-topology-1',
            'title': 'vpclab topology', **top}


def text():
    return json.dumps(schema(), indent=2) + '\n'


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ['--update']:
        os.makedirs(os.path.dirname(PATH), exist_ok=True)
        with open(PATH, 'w') as f:
            f.write(text())
        print(f'wrote {os.path.relpath(PATH, ROOT)}')
    else:
        sys.stdout.write(text())
    return 0


if __name__ == '__main__':
    sys.exit(main())
