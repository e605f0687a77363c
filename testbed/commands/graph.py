"""`vpclab graph TOPOLOGY [--format mermaid|dot|svg|png] [--layer ...]`, offline from the file.

The physical layer: AZs, racks, physical hosts (with their ToR and the spines) and the instances on
them, coloured by VPC.  The logical layer: each VPC (CIDR, VNI) with its subnets, the gateways its
route tables name (an edge per route, labelled with its destination) and the peerings.  One neutral
description (clusters, nodes, edges) is written as Mermaid or Graphviz DOT; svg and png are DOT
drawn by Graphviz's `dot`."""
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from testbed.errors import LabError
from testbed.topology import load

FORMATS = ('mermaid', 'dot', 'svg', 'png')
LAYERS = ('both', 'physical', 'logical')
# (fill, stroke) per VPC in file order, then again
PALETTE = (('#cfe2ff', '#0d6efd'), ('#f8d7da', '#dc3545'), ('#d1e7dd', '#198754'), ('#fff3cd', '#fd7e14'),
           ('#e2d9f3', '#6f42c1'), ('#cff4fc', '#0dcaf0'), ('#f7d6e6', '#d63384'), ('#e9ecef', '#495057'))
GATEWAYS = {'igw': 'internet gateway', 'vgw': 'virtual private gateway', 'nat': 'NAT gateway',
            'dx': 'Direct Connect', 'vpce': 'VPC endpoint', 'blackhole': 'blackhole'}


@dataclass
class Node:
    id: str
    label: str           # lines joined by \n
    vpc: int | None = None
    shape: str = 'box'


@dataclass
class Cluster:
    id: str
    label: str
    items: list = field(default_factory=list)      # Nodes and Clusters
    vpc: int | None = None


@dataclass
class Edge:
    a: str
    b: str
    label: str = ''
    dashed: bool = False


def ident(*parts):
    return '_'.join(re.sub(r'[^A-Za-z0-9]', '_', str(p)) for p in parts)


def physical(topo, colour):
    spines = [Node(ident('spine', k), f'spine {k}', shape='ellipse') for k in range(1, topo.spines + 1)]
    clusters, edges = [], []
    for az in topo.azs:
        az_cluster = Cluster(ident('az', az), f'AZ {az}')
        for rack in (r for r in topo.racks.values() if r.az == az):
            tor = ident('tor', rack.name)
            rack_cluster = Cluster(ident('rack', rack.name), f'rack {rack.name}', [Node(tor, f'ToR {rack.name}',
                                                                                        shape='ellipse')])
            edges += [Edge(tor, s.id) for s in spines]
            for name in rack.hosts:
                host = topo.hosts[name]
                hid = ident('h', name)
                instances = [Node(ident('i', i.name), f'{i.name}\n{i.ip} ({i.vpc})', colour[i.vpc])
                             for i in topo.instances() if i.host == name]
                rack_cluster.items.append(Cluster(ident('host', name), f'physical host {name}', [
                    Node(hid, f'{name} hypervisor\n{host.underlay_ip}', shape='component'), *instances]))
                edges += [Edge(i.id, hid) for i in instances] + [Edge(hid, tor, 'NIC')]
            az_cluster.items.append(rack_cluster)
        clusters.append(az_cluster)
    return [Cluster('physical', 'physical: AZs, racks, hosts, instances', [*spines, *clusters])], edges


def logical(topo, colour):
    clusters, edges, gateways = [], [], {}
    for vpc in topo.vpcs.values():
        router = ident('vpc', vpc.name)
        cluster = Cluster(ident('c', vpc.name), f'VPC {vpc.name} {vpc.cidr} (VNI {vpc.vni}, {vpc.account})',
                          [Node(router, f'{vpc.name} router\n{vpc.cidr}', colour[vpc.name], 'ellipse')],
                          colour[vpc.name])
        for subnet in vpc.subnets.values():
            members = [i.name for i in vpc.instances.values() if i.subnet == subnet.name]
            sid = ident('s', vpc.name, subnet.name)
            cluster.items.append(Node(sid, f'{subnet.name}\n{subnet.cidr} {subnet.az}\n{", ".join(members) or "-"}',
                                      colour[vpc.name]))
            edges.append(Edge(sid, router))
            table = vpc.route_table_of(subnet.name)
            for route in table.routes:
                kind = route.target.split(':')[0]
                if kind in ('local', 'pcx'):
                    continue
                gid = ident('g', vpc.name, route.target)
                if gid not in gateways:
                    label = GATEWAYS.get(kind, kind) + (f'\n{route.target}' if ':' in route.target else '')
                    gateways[gid] = Node(gid, label, colour[vpc.name], 'hexagon')
                    cluster.items.append(gateways[gid])
                edges.append(Edge(sid, gid, f'{route.destination} ({table.name})', kind == 'blackhole'))
        clusters.append(cluster)
    for p in topo.peerings:
        edges.append(Edge(ident('vpc', p.vpcs[0]), ident('vpc', p.vpcs[1]), f'peering {p.name}', True))
    return [Cluster('logical', 'logical: VPCs, subnets, gateways, peerings', clusters)], edges


def describe(topo, layer='both'):
    """(clusters, edges, VPC colours by index) of the layers asked for."""
    colour = {name: n % len(PALETTE) for n, name in enumerate(topo.vpcs)}
    clusters, edges = [], []
    for name, build in (('physical', physical), ('logical', logical)):
        if layer in ('both', name):
            c, e = build(topo, colour)
            clusters += c
            edges += e
    return clusters, edges


# ---- writers --------------------------------------------------------------------------------------

def walk(clusters, node, opening, closing):
    """The lines of nested clusters: node(item, pad) and opening(cluster, pad) give lists of lines,
    closing(pad) one line."""
    out = []

    def write(item, depth):
        pad = '  ' * depth
        if isinstance(item, Node):
            out.extend(node(item, pad))
            return
        out.extend(opening(item, pad))
        for child in item.items:
            write(child, depth + 1)
        out.append(closing(pad))
    for cluster in clusters:
        write(cluster, 1)
    return out


def _mermaid_quote(text):
    return '"' + text.replace('"', '#quot;').replace('\n', '<br/>') + '"'


def _mermaid_node(item, pad):
    brackets = {'box': '[{}]', 'ellipse': '([{}])', 'hexagon': '{{{{{}}}}}', 'component': '[[{}]]'}[item.shape]
    return [pad + item.id + brackets.format(_mermaid_quote(item.label))] + \
        ([f'{pad}class {item.id} vpc{item.vpc}'] if item.vpc is not None else [])


def mermaid(topo, layer='both'):
    clusters, edges = describe(topo, layer)
    out = [f'%% vpclab graph {topo.path}', 'flowchart TB']
    out += walk(clusters, _mermaid_node, lambda c, pad: [f'{pad}subgraph {c.id}[{_mermaid_quote(c.label)}]'],
                lambda pad: f'{pad}end')
    for e in edges:
        line = '-.-' if e.dashed else '---'
        out.append(f'  {e.a} {line}|{_mermaid_quote(e.label)}| {e.b}' if e.label else f'  {e.a} {line} {e.b}')
    out += [f'  classDef vpc{n} fill:{fill},stroke:{stroke}' for n, (fill, stroke) in enumerate(PALETTE)]
    return '\n'.join(out) + '\n'


def _dot_quote(text):
    return '"' + text.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n') + '"'


def _dot_node(item, pad):
    fill, stroke = PALETTE[item.vpc] if item.vpc is not None else ('white', 'black')
    return [f'{pad}{item.id} [label={_dot_quote(item.label)} shape={item.shape} fillcolor="{fill}" '
            f'color="{stroke}"];']


def _dot_cluster(c, pad):
    return [f'{pad}subgraph cluster_{c.id} {{', f'{pad}  label={_dot_quote(c.label)};'] + \
        ([f'{pad}  color="{PALETTE[c.vpc][1]}";'] if c.vpc is not None else [])


def dot(topo, layer='both'):
    clusters, edges = describe(topo, layer)
    out = [f'// vpclab graph {topo.path}', 'graph vpclab {', '  compound=true; rankdir=TB; newrank=true;',
           '  node [fontname="Helvetica" fontsize=10 style=filled fillcolor=white];',
           '  graph [fontname="Helvetica" fontsize=11]; edge [fontname="Helvetica" fontsize=9];']
    out += walk(clusters, _dot_node, _dot_cluster, lambda pad: f'{pad}}}')
    for e in edges:
        attrs = [f'label={_dot_quote(e.label)}'] if e.label else []
        attrs += ['style=dashed'] if e.dashed else []
        out.append(f'  {e.a} -- {e.b}' + (f' [{" ".join(attrs)}]' if attrs else '') + ';')
    out.append('}')
    return '\n'.join(out) + '\n'


def draw(dot_text, fmt):
    """svg or png bytes of DOT text, by Graphviz's dot (LabError if it is missing or fails)."""
    if shutil.which('dot') is None:
        raise LabError(f'--format {fmt} needs Graphviz\'s dot, which is not installed: run `sudo apt-get install '
                       'graphviz` (or `sudo make setup`), or use --format mermaid or dot')
    out = subprocess.run(['dot', f'-T{fmt}'], input=dot_text.encode(), capture_output=True, timeout=120)
    if out.returncode:
        raise LabError(f'dot -T{fmt} failed: {out.stderr.decode(errors="replace").strip()[:300]}')
    return out.stdout


def graph_arguments(p):
    import shtab
    p.add_argument('topology', metavar='TOPOLOGY', help='a topology file').complete = shtab.FILE
    p.add_argument('--format', choices=FORMATS, default='mermaid',
                   help='mermaid (the default: renders on GitHub), dot, or svg/png drawn by Graphviz')
    p.add_argument('--layer', choices=LAYERS, default='both', help='the physical layer, the logical one or both')
    p.add_argument('-w', '--write', metavar='FILE', help='write to FILE instead of standard output')


def cmd_graph(args):
    topo = load(args.topology)
    text = (mermaid if args.format == 'mermaid' else dot)(topo, args.layer)
    data = text.encode() if args.format in ('mermaid', 'dot') else draw(text, args.format)
    if args.write:
        with open(args.write, 'wb') as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
