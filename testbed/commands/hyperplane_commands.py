"""`vpclab hyperplane shards|fail NODE|restore NODE`: which Hyperplane nodes serve which resource on the
running lab, and a node's loss and return.

`shards` asks the controller (GET /hyperplane), so it works from any terminal; `fail` and `restore`
stop and start the node's process, which only the lab's own process holds: in the `vpclab up` shell
(or `testbed.Lab.fail_node` / `restore_node`), as `migrate`.
"""
from testbed.commands.output import Report, Table, output_argument, render
from testbed.errors import UsageError


def arguments(p):
    p.add_argument('action', nargs='?', default='shards', choices=('shards', 'fail', 'restore'),
                   help='shards (the default): which nodes serve each resource; '
                        'fail/restore NODE: a node\'s loss and return')
    p.add_argument('node', nargs='?', metavar='NODE', help='a Hyperplane node, e.g. hp2 (fail and restore)')
    output_argument(p)


def shards_report(described):
    """The controller's view (GET /hyperplane) as a table: per resource its shard and what is live."""
    failed = set(described.get('failed', ()))
    rows = [(r['kind'], r['name'], r['id'], ' '.join(r['live']) or '(none)',
             ' '.join(n for n in r['shard'] if n in failed) or '-') for r in described.get('resources', ())]
    nodes = [(n, ip, 'failed' if n in failed else 'live') for n, ip in described.get('nodes', {}).items()]
    doc = dict(Nodes=[dict(Name=n, UnderlayIp=ip, State=s) for n, ip, s in nodes],
               Resources=[dict(Kind=r['kind'], Name=r['name'], Id=r['id'], Shard=r['shard'], Live=r['live'])
                          for r in described.get('resources', ())])
    return Report([Table(('NODE', 'UNDERLAY IP', 'STATE'), nodes, 'Hyperplane nodes'),
                   Table(('KIND', 'NAME', 'ID', 'SERVED BY', 'FAILED'), rows, 'resources and their shards',
                         empty='(no NAT gateway, load balancer or interface endpoint)')], doc)


def hyperplane(lab, args):
    if args.action == 'shards':
        if args.node:
            raise UsageError('hyperplane shards takes no node')
        return render(shards_report(lab.api.hyperplane()), args)
    if not args.node:
        raise UsageError(f'hyperplane {args.action} needs a node, e.g. `hyperplane {args.action} hp1`')
    if not hasattr(lab, 'fail_node'):
        raise UsageError(f'hyperplane {args.action} stops or starts a node\'s process, which only the lab\'s own '
                         'process can: run it in the `vpclab up` shell')
    (lab.fail_node if args.action == 'fail' else lab.restore_node)(args.node)
    return (f'{args.node} failed: its flows go on through the other nodes of their shards (not refilled)'
            if args.action == 'fail' else f'{args.node} restored: it serves its shards again')
