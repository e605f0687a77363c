"""Flows per host for one VPC whose instances are all in AWS's default group (which admits its own
members: inbound all from sg:default, outbound all), spread round-robin over a few hosts, as the
mapping service and the virtual router program them in proactive mode (issue 8 goal 1).

It uses only what every version of the controller has (MappingTable, SecurityGroupBook,
VirtualRouter), so the same harness measures an older checkout:
    cd CHECKOUT && python PATH/TO/tests/unit/flowcount.py 16 100 1000
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.getcwd())     # the checkout to measure (as a script, Python would find the installed one)
from controllers import pipeline as P  # noqa: E402
from controllers.mapping_table import MappingTable  # noqa: E402
from controllers.router import ofp  # noqa: E402
from controllers.router.security_groups import SecurityGroupBook  # noqa: E402
from controllers.router.virtual_router import VirtualRouter  # noqa: E402

VNI = 100
SUBNET = dict(index=1, vni=VNI, cidr='10.0.0.0/16', flow_logs=False, acl=None,
              routes=[dict(destination='10.0.0.0/16', target='local')])


def rule(protocol=None, ports=None, peer='0.0.0.0/0'):
    return dict(protocol=protocol, ports=ports, peer=peer, number=None, action='allow')


DEFAULT_GROUP = dict(inbound=[rule(peer='sg:default')], outbound=[rule()])


class Count:
    """What a switch holds after the flow-mods, by (table, priority, match): adds replace,
    strict deletes remove one, deletes remove what they cover."""

    def __init__(self):
        self.flows = {}

    def apply(self, messages):
        for m in messages:
            if not isinstance(m, ofp.parser.OFPFlowMod):
                continue
            key = (m.table_id, m.priority, tuple(sorted(m.match._fields2)))
            if m.command == ofp.ofp.OFPFC_ADD:
                self.flows[key] = m.cookie
            elif m.command == ofp.ofp.OFPFC_DELETE_STRICT:
                self.flows.pop(key, None)
            else:
                want = set(m.match._fields2)
                self.flows = {k: c for k, c in self.flows.items() if not (
                    m.table_id in (ofp.ofp.OFPTT_ALL, k[0]) and c & m.cookie_mask == m.cookie & m.cookie_mask
                    and want <= set(k[2]))}
        return self

    def __len__(self):
        return len(self.flows)


def ip_of(n):
    return f'10.0.{2 + n // 250}.{1 + n % 250}'


def lab(instances, hosts):
    """The mapping table and group book of `instances` in the default group over `hosts` hosts."""
    names = {f'h{n + 1}': f'100.127.0.{n + 1}' for n in range(hosts)}
    table = MappingTable(names, {VNI: set()}, 'proactive')
    for n in range(instances):
        table.register(vni=VNI, ip=ip_of(n), host=f'h{n % hosts + 1}', mac=f'0e:00:00:00:{n // 256:02x}:{n % 256:02x}',
                       eni=f'eni-{n}', instance=f'i-{n}', subnet='subnet-a', gateway_ip='10.0.0.1',
                       port_name=f'vl_i{n}', security_groups=('default',))
    return table, SecurityGroupBook({VNI: {'default': DEFAULT_GROUP}})


def push(book, table, host, router):
    """A host's push, as the mapping service sends it."""
    plan = table.plan(host)
    changes = book.changes_for(host, table.entries())
    # since conjunctions: (ENI changes, group member changes); before: the ENI changes only
    plan.security_groups, plan.group_members = changes if isinstance(changes, tuple) else (changes, {})
    return router.apply(plan)


def flows_on(instances, hosts=4, host='h1'):
    """(flows on `host` once programmed, how many of them are security-group rule flows)."""
    table, book = lab(instances, hosts)
    router = VirtualRouter(dict(name=host, underlay_ip='100.127.0.1'), table.peers, 'proactive',
                           {'subnet-a': SUBNET})
    switch = Count().apply(router.start())
    for e in table.entries():
        if e.host == host:
            switch.apply(router.port_added(e.port_name, 1 + len(router.ports)))
    switch.apply(push(book, table, host, router))
    rules_tables = (P.EGRESS_SG_RULES, P.INGRESS_SG_RULES)
    return len(switch), sum(1 for k in switch.flows if k[0] in rules_tables)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('sizes', nargs='*', type=int, default=[16, 100, 1000])
    ap.add_argument('--hosts', type=int, default=4)
    args = ap.parse_args(argv)
    import controllers
    print(f'measuring {os.path.dirname(os.path.dirname(controllers.__file__))}')
    print(f'{"instances":>9} {"hosts":>5} {"flows/host":>10} {"sg rules":>9} {"s":>6}')
    for n in args.sizes:
        t0 = time.monotonic()
        total, sg = flows_on(n, args.hosts)
        print(f'{n:9} {args.hosts:5} {total:10} {sg:9} {time.monotonic() - t0:6.1f}')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
