"""The views of a running lab (mappings, cache, counters, alerts, placement, flows) as Reports:
a table for people, JSON (AWS-like field names) and CSV alike (testbed/commands/output.py).
Names are checked against the lab's topology before anything is asked of it."""
import os

from testbed.commands import aws
from testbed.commands.output import Report, Table, output_argument, render
from testbed.errors import UsageError
from testbed.fabric import edge, edge_plan, hyperplane_plan
from testbed.observe.flows import dump_flows, parse_flows, table_number
from testbed.services.counters import services_table


def check_host(topo, name):
    if name not in topo.hosts:
        raise UsageError(f'no physical host named {name!r} in this lab; hosts are: {some(topo.hosts)}')
    return name


def check_instance(topo, name):
    try:
        topo.instance(name)
    except KeyError:
        raise UsageError(f'no instance named {name!r} in this lab; instances are: '
                         f'{some(i.name for i in topo.instances())}') from None
    return name


def some(names, most=8):
    names = list(names)
    return ', '.join(names[:most]) + (f' ... ({len(names)} in all)' if len(names) > most else '')


def no_arguments(p):
    output_argument(p)


def host_argument(p):
    p.add_argument('host', metavar='HOST', help='a physical host, e.g. r1-h1')
    output_argument(p)


def _pairs(title, counts, key='COUNTER'):
    return Table((key, 'VALUE'), sorted(counts.items()), title)


# ---- mappings ------------------------------------------------------------------------------------------

MAPPING_FIELDS = (('VNI', 'Vni', 'vni'), ('IP', 'PrivateIpAddress', 'ip'), ('HOST', 'HostId', 'host'),
                  ('MAC', 'MacAddress', 'mac'), ('ENI', 'NetworkInterfaceId', 'eni'),
                  ('INSTANCE', 'InstanceName', 'instance'), ('VERSION', 'Version', 'version'))


def mapping_report(entries, title=''):
    return Report([Table(tuple(f[0] for f in MAPPING_FIELDS), [tuple(e[f[2]] for f in MAPPING_FIELDS)
                                                             for e in entries], title)],
                  dict(Mappings=[{f[1]: e[f[2]] for f in MAPPING_FIELDS} for e in entries]))


def mappings(lab, args):
    return render(mapping_report(lab.api.mappings()), args)


def cache(lab, args):
    check_host(lab.topology, args.host)
    c = lab.api.cache(args.host)
    report = mapping_report(c['cache'], 'cache')
    report.lines = [f'host {c["host"]} ({c["underlay_ip"]}): instances {", ".join(c["local"]) or "-"}']
    report.tables += [_pairs('counters', c['counters']), _pairs('drops', c['drops'], 'REASON')]
    report.document = dict(HostId=c['host'], UnderlayIpAddress=c['underlay_ip'], Instances=c['local'],
                           Cache=report.document['Mappings'], Counters=c['counters'], Drops=c['drops'])
    return render(report, args)


def counters(lab, args):
    m = lab.api.metrics()
    hosts = sorted(m['hosts'].items())
    names = sorted({k for _, h in hosts for k in h['counters']})
    reasons = sorted({r for _, h in hosts for r in h['drops']})
    per_host = Table(('HOST', 'CACHE', *(n.upper().replace('_', '-') for n in names)),
                     [(host, h['cache_entries'], *(h['counters'].get(n, 0) for n in names)) for host, h in hosts],
                     'hypervisors')
    drops = Table(('REASON', 'ALL', *(host for host, _ in hosts)),
                  [(r, m['drops'].get(r, 0), *(h['drops'].get(r, 0) for _, h in hosts)) for r in reasons],
                  'drops by reason', empty='(no drops)')
    datapath = lab.datapath_drops()
    report = Report([_pairs('mapping service', m['mapping']), per_host, drops],
                    dict(MappingService=m['mapping'], Drops=m['drops'], DatapathDrops=datapath,
                         Alerts=m['alerts'], OpenFlowErrors=len(m['ofp_errors']),
                         Hosts=[dict(HostId=host, CacheEntries=h['cache_entries'], Counters=h['counters'],
                                     Drops=h['drops']) for host, h in hosts]))
    report.tables.append(Table(('WHAT', 'VALUE'), [('conntrack drops (shared datapath)', datapath),
                                                   ('alerts', m['alerts']),
                                                   ('OpenFlow errors', len(m['ofp_errors']))], 'other'))
    run_dir = os.path.dirname(lab.flow_log_path)
    services_table(report, run_dir)     # DNS and metadata answers per host
    appliance_tables(report, edge_plan.read_counters(run_dir), 'edge (Blackfoot)', 'Edge')
    appliance_tables(report, hyperplane_plan.read_counters(run_dir), 'Hyperplane nodes', 'HyperplaneNodes')
    return render(report, args)


def appliance_tables(report, nodes, title, key):
    """Adds the counters and drops by reason of the dedicated hosts' packet loops ({node: counters as its
    process last wrote them in the run directory}) to a `counters` report: the loops' own and their
    handler's, the sum and each node's."""
    if not nodes:
        return report
    total = edge.merge(nodes.values())
    handler = total.get('handler', {})
    loop = [(k, v) for k, v in sorted(total.items()) if not isinstance(v, dict)]
    rows = [(k, v, *(n.get(k, 0) for n in nodes.values())) for k, v in loop]
    rows += [(k, v, *(n.get('handler', {}).get(k, 0) for n in nodes.values()))
             for k, v in sorted(handler.items()) if not k.startswith('drop:')]
    report.tables.append(Table(('COUNTER', 'ALL', *nodes), rows, title))
    drops = [(k[5:], v, *(n.get('handler', {}).get(k, 0) for n in nodes.values()))
             for k, v in sorted(handler.items()) if k.startswith('drop:')]
    report.tables.append(Table(('REASON', 'ALL', *nodes), drops, f'{title}: drops by reason', empty='(no drops)'))
    report.document[key] = dict(Total=total, Nodes=nodes)
    return report


def alerts(lab, args):
    found = lab.api.alerts()
    return render(Report([Table(('HOST', 'REASON', 'COUNT', 'DETAIL'),
                                [(a['host'], a['reason'], a['count'], a['detail']) for a in found],
                                empty='(no alerts)')],
                         dict(Alerts=[dict(HostId=a['host'], Reason=a['reason'], Count=a['count'],
                                           Detail=a['detail']) for a in found])), args)


def placement_report(topo, where=None):
    """Where each instance runs (where: name -> host now; None: where the file's placement put it)."""
    rows = [(i.name, i.vpc, i.subnet, topo.vpcs[i.vpc].subnets[i.subnet].az, i.ip,
             (where.get(i.name, '(not running)') if where is not None else i.host)) for i in topo.instances()]
    return Report([Table(('INSTANCE', 'VPC', 'SUBNET', 'AZ', 'IP', 'HOST'), rows)],
                  aws.describe_instances(topo, where))


def placement(lab, args):
    return render(placement_report(lab.topology, {e['instance']: e['host'] for e in lab.api.mappings()}), args)


# ---- flows ------------------------------------------------------------------------------------------------

FLOW_FIELDS = ('table', 'priority', 'n_packets', 'n_bytes', 'cookie', 'match', 'actions')


def flows_arguments(p):
    p.add_argument('host', metavar='HOST', help='a physical host, e.g. r1-h1')
    p.add_argument('table', nargs='?', metavar='TABLE', help='one stage of the pipeline (its name or number)')
    p.add_argument('-o', '--output', choices=('text', 'json', 'csv'), default='text',
                   help='text (as ovs-ofctl prints it, the default), json or csv')


def flows(lab, args):
    check_host(lab.topology, args.host)
    if args.table is not None:
        try:
            table_number(args.table)
        except ValueError as exc:
            raise UsageError(f'flows: {exc}') from None
    text = dump_flows(lab.bridge(args.host), args.table)
    if args.output == 'text':
        return text.rstrip('\n')
    found = parse_flows(text)
    return Report([Table(tuple(f.upper() for f in FLOW_FIELDS), [tuple(f[k] for k in FLOW_FIELDS) for f in found])],
                  dict(HostId=args.host, Flows=found)).render(args.output)
