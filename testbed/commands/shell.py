"""The Mininet CLI of `vpclab up`, with VPC commands added to Mininet's own
(`web-1 ping 10.0.1.11` works as in any Mininet)."""
import subprocess

from mininet.cli import CLI
from mininet.log import setLogLevel

from testbed.commands import firewall
from testbed.management_client import ApiError
from testbed.errors import LabError
from testbed.topology import TopologyError


class VpcShell(CLI):
    prompt = 'vpclab> '

    def __init__(self, lab):
        self.lab = lab
        setLogLevel('output')      # Mininet prints node commands' output at this level
        super().__init__(lab.network.net)

    def parseline(self, line):
        # cmd.Cmd stops a command word at the first non-identifier character, which
        # breaks instance names like web-1: split on white space instead
        line = line.strip()
        if not line:
            return None, None, line
        first, _, rest = line.partition(' ')
        return first, rest.strip(), line

    def _run(self, fn):
        try:
            fn()
        except (ApiError, LabError, KeyError, TopologyError) as exc:
            print(f'error: {exc}')

    def do_sg(self, line):
        """sg VPC GROUP [add|remove inbound|outbound PROTOCOL [PORTS] PEER]: show or change a
        security group (e.g. sg blue web add inbound tcp 8080 10.0.0.0/16)."""
        def run():
            vpc, group, *change = line.split()
            if change:
                op, direction, *words = change
                print(firewall.show_group(firewall.change_group(
                    self.lab.topology, self.lab.api, vpc, group, direction, op, words)))
            else:
                print(firewall.show_group(self.lab.security_group(vpc, group)))
        try:
            self._run(run)
        except ValueError:
            print('usage: sg VPC GROUP [add|remove inbound|outbound PROTOCOL [PORTS] PEER]')

    def do_flowlogs(self, line):
        """flowlogs [eni=ENI|INSTANCE] [address=IP] [port=N] [action=ACCEPT|REJECT]: flow-log records."""
        def show():
            filters = dict(word.split('=', 1) for word in line.split())
            if 'port' in filters:
                filters['port'] = int(filters['port'])
            print(firewall.show_flow_logs(self.lab.flow_log_path, self.lab.api, **filters))
        try:
            self._run(show)
        except (ValueError, TypeError):
            print('usage: flowlogs [eni=ENI] [address=IP] [port=N] [action=ACCEPT|REJECT]')

    def do_mappings(self, line):
        """mappings: the mapping service's table (VNI, IP) -> host, MAC, ENI."""
        def show():
            print('%-6s %-15s %-8s %-17s %-22s %-12s %s' % ('VNI', 'IP', 'HOST', 'MAC', 'ENI',
                                                            'INSTANCE', 'VERSION'))
            for e in self.lab.api.mappings():
                print('%-6d %-15s %-8s %-17s %-22s %-12s %d' % (
                    e['vni'], e['ip'], e['host'], e['mac'], e['eni'], e['instance'],
                    e['version']))
        self._run(show)

    def do_cache(self, line):
        """cache HOST: what one physical host's cache holds, with its counters."""
        def show():
            c = self.lab.api.cache(line.strip())
            print('host {} ({}): instances {}'.format(c['host'], c['underlay_ip'],
                                                   ', '.join(c['local']) or '-'))
            for e in c['cache']:
                print('  VNI %-5d %-15s -> %-8s %s v%d' % (e['vni'], e['ip'], e['host'],
                                                          e['mac'], e['version']))
            print('  counters: {}'.format(c['counters']))
            print('  drops: {}'.format(c['drops']))
        self._run(show)

    def do_counters(self, line):
        """counters: mapping-service metrics and drops by reason, per host."""
        def show():
            m = self.lab.api.metrics()
            print('mapping service: {}'.format(m['mapping']))
            print('drops (all hosts): {}'.format(m['drops']))
            for host, h in sorted(m['hosts'].items()):
                print('  %-8s cache %3d  %s  drops %s' % (host, h['cache_entries'],
                                                          h['counters'], h['drops']))
            print(f'in the shared datapath\'s conntrack: {self.lab.datapath_drops()}')
            print('alerts: %d, OpenFlow errors: %d' % (m['alerts'], len(m['ofp_errors'])))
        self._run(show)

    def do_alerts(self, line):
        """alerts: what the hypervisors reported for a human to look at."""
        def show():
            for a in self.lab.api.alerts() or [{'detail': 'no alerts', 'host': '-',
                                                    'reason': '-', 'count': 0}]:
                print('%-8s %-20s x%-4d %s' % (a['host'], a['reason'], a['count'],
                                               a['detail']))
        self._run(show)

    def do_migrate(self, line):
        """migrate INSTANCE HOST: move a running instance to another physical host."""
        def run():
            instance, host = line.split()
            rec = self.lab.migrate(instance, host)
            print('%s now runs on %s; %d host caches updated in %.1f ms (%.0f ms in all)'
                  % (instance, host, len(rec['hosts']), rec['seconds'] * 1e3,
                     rec['total_seconds'] * 1e3))
        try:
            self._run(run)
        except ValueError:
            print('usage: migrate INSTANCE HOST')

    def do_placement(self, line):
        """placement: where each instance runs now."""
        for inst in self.lab.instances():
            print('%-20s %-8s %-15s %s' % (inst.name, inst.vpc, inst.ip,
                                           self.lab.host_of(inst.name)))

    def do_flows(self, line):
        """flows HOST [TABLE]: the OpenFlow pipeline of a physical host's bridge."""
        args = line.split()
        if not args:
            print('usage: flows HOST [TABLE]')
            return
        try:
            cmd = ['ovs-ofctl', '-O', 'OpenFlow13', 'dump-flows', self.lab.bridge(args[0])]
        except KeyError:
            print(f'error: no physical host named {args[0]!r}')
            return
        print(subprocess.run(cmd + [f'table={args[1]}'] if len(args) > 1 else cmd,
                             capture_output=True, text=True).stdout)
