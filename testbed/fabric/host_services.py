"""The VPC services of a running lab (docs/services.md, "How it is wired"): on every physical host a
service namespace (a Mininet node) on the host bridge's port SERVICE_PORT, running
testbed/services/host_services.py (the Amazon DNS server and instance metadata), and the DHCP
clients of the instances of `dhcp: true` VPCs, run at boot and after a migration.

    lab.services = HostServices(lab).start()      # once every hypervisor is programmed
    lab.services.update({"op": "migrated", ...})  # every host's process: one line each way
    lab.services.counters()                       # host -> the process's counters
    lab.services.stop()                           # SIGTERM by PID; their last counters stay

Every interface made here is recorded in the run state first, its root side sealed as it is made
(testbed/fabric/isolation.py); every process is recorded by PID as it starts.
"""
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time

from controllers.pipeline import SERVICE_MAC, SERVICE_PORT
from testbed.appliances import processes
from testbed.fabric.isolation import SealedLink
from testbed.fabric.runstate import write_private
from testbed.fabric.shell import sh
from testbed.services import counters
from testbed.services.addresses import ENI_BLOCK, METADATA_IP, domain_name, service_addresses
from testbed.services.state import ServiceState

MODULE = 'testbed.services.host_services'
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INTF = 'eth0'
READY_S = 20.0
ANSWER_S = 5.0
DHCP_TIMEOUT_S = 20
# busybox udhcpc's script: configure what the lease says, and keep it where tests can read it
DHCP_SCRIPT = """#!/bin/sh
case "$1" in
deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
  ip addr replace "$ip/$subnet" ${broadcast:+broadcast "$broadcast"} dev "$interface"
  [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
  [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
  env | grep -E '^(ip|subnet|router|dns|domain|mtu|lease|serverid)=' | sort > "$LEASE_FILE" ;;
esac
exit 0
"""


def controller_subnets(topo, subnets):
    """The controller's subnets (firewall_config.subnets), each with what the router needs to answer
    its ENIs' DHCP and steer their DNS and metadata: `services` = {vpc_cidr, domain, mtu}."""
    domain = domain_name(topo.region)
    for vpc in topo.vpcs.values():
        for s in vpc.subnets.values():
            subnets[s.id]['services'] = dict(vpc_cidr=vpc.cidr, domain=domain, mtu=topo.mtu)
    return subnets


def takes_dhcp(topo, inst):
    """Whether an instance takes its address by DHCP (the fabric then configures none)."""
    return bool(topo.vpcs[inst.vpc].dhcp)


def node_name(names, host):
    return f'{names.prefix}svc{host.index}'        # also the root side of its cable (<= 15 characters)


class HostServices:
    def __init__(self, lab):
        self.lab = lab
        self.topo, self.names = lab.topology, lab.names
        self.procs = {}                 # host name -> Popen
        self.final = {}                 # host name -> counters printed at exit
        self.lock = threading.Lock()
        self.state_path = os.path.join(lab.run_dir, 'services.json')
        self.key_path = os.path.join(lab.run_dir, 'services.key')
        self.dhcp_script = os.path.join(lab.run_dir, 'udhcpc.sh')

    # ---- start ----------------------------------------------------------------------------------
    def start(self):
        try:
            idents = {m['instance']: m['ident'] for m in self.lab.api.mappings()}
            state = ServiceState.from_topology(self.topo, idents)
            write_private(self.state_path, state.to_json().encode())
            write_private(self.key_path, secrets.token_bytes(32))
            addresses = service_addresses(v.cidr for v in self.topo.vpcs.values())
            for h in self.topo.hosts.values():
                self._namespace(h, addresses)
            for h in self.topo.hosts.values():
                self._spawn(h)
            for host, proc in self.procs.items():
                self._wait_ready(host, proc)
            self.dhcp([i.name for i in self.topo.instances() if takes_dhcp(self.topo, i)])
        except BaseException:
            self.stop()
            raise
        return self

    def _namespace(self, h, addresses):
        net, name = self.lab.network.net, node_name(self.names, h)
        self.lab.state.add('interfaces', name)
        node = net.addHost(name, ip=None)
        self.lab.state.add_process(node.pid, f'mininet:{name}')
        node.cmd('sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1')
        bridge = net.get(self.lab.bridge(h.name))
        net.addLink(node, bridge, cls=SealedLink, intfName1=INTF, intfName2=name)
        sh(f'ip link set {name} mtu {self.topo.mtu} up && ethtool -K {name} tx off >/dev/null && '
            f'ovs-vsctl --timeout=10 add-port {bridge.name} {name} -- set interface {name} '
            f'ofport_request={SERVICE_PORT}')
        # no ARP either way: the pipeline sets both MACs
        inside = [f'ip link set {INTF} address {SERVICE_MAC} arp off mtu {self.topo.mtu}',
                  f'ethtool -K {INTF} tx off >/dev/null', f'ip link set {INTF} up', 'ip link set lo up']
        inside += [f'ip addr add {a}/32 dev {INTF}' for a in (METADATA_IP, *addresses)]
        inside += [f'ip route add {ENI_BLOCK} dev {INTF}', 'echo configured']
        out = node.cmd(' && '.join(inside))
        if 'configured' not in out:
            raise RuntimeError(f'could not configure the service namespace {name}: {out.strip()}')

    def _spawn(self, h):
        node = self.lab.network.net.get(node_name(self.names, h))
        cmd = [sys.executable, '-m', MODULE, '--state', self.state_path, '--token-key-file', self.key_path,
               '--counters-file', self.counters_path(h.name)]
        proc = node.popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          cwd=REPO)
        self.procs[h.name] = proc
        self.lab.state.add_process(proc.pid, MODULE)

    @staticmethod
    def _wait_ready(host, proc):
        line = _readline(proc, READY_S)
        if line.strip() != 'ready':
            why = _drain(proc.stderr)[-500:] if proc.poll() is not None else f'no "ready" within {READY_S:.0f} s'
            raise RuntimeError(f'the services of {host} did not start: {line.strip()} {why}')

    def counters_path(self, host):
        return counters.path(self.lab.run_dir, host)

    # ---- DHCP clients ---------------------------------------------------------------------------
    def lease_path(self, instance):
        return os.path.join(self.lab.run_dir, f'lease-{instance}.env')

    def dhcp(self, instances):
        """Run busybox udhcpc in each instance (in parallel) until it has its lease."""
        if not instances:
            return
        with open(self.dhcp_script, 'w') as f:
            f.write(DHCP_SCRIPT)
        os.chmod(self.dhcp_script, 0o700)
        clients = {}
        for name in instances:
            env = dict(os.environ, LEASE_FILE=self.lease_path(name))
            clients[name] = self.lab.node(name).popen(
                ['busybox', 'udhcpc', '-i', INTF, '-f', '-q', '-n', '-t', '10', '-T', '1', '-O', 'mtu',
                 '-s', self.dhcp_script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        failed = []
        for name, client in clients.items():
            try:
                out, _ = client.communicate(timeout=DHCP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                client.kill()
                out, _ = client.communicate()
            if client.returncode:
                failed.append(f'{name}: {out.strip()[-300:]}')
        if failed:
            raise RuntimeError('DHCP failed for ' + '; '.join(failed))

    def lease(self, instance):
        """What the instance's last DHCP lease said (ip, subnet, router, dns, domain, mtu, ...)."""
        with open(self.lease_path(instance)) as f:
            return dict(line.rstrip('\n').split('=', 1) for line in f if '=' in line)

    # ---- changes --------------------------------------------------------------------------------
    def update(self, message):
        """Send one update to every host's process; {host: its answer}."""
        answers = {}
        with self.lock:
            for host, proc in self.procs.items():
                proc.stdin.write(json.dumps(message) + '\n')
                proc.stdin.flush()
                line = _readline(proc, ANSWER_S)
                answers[host] = json.loads(line) if line else dict(ok=False, error='no answer')
        bad = {h: a for h, a in answers.items() if not a.get('ok')}
        if bad:
            raise RuntimeError(f'the services refused {message.get("op")!r}: {bad}')
        return answers

    def migrated(self, instance, host):
        """After lab.migrate: record the host, and a DHCP instance takes its address again (its new
        cable came up without one)."""
        self.update(dict(op='migrated', instance=instance, host=host))
        inst = self.topo.instance(instance)
        if takes_dhcp(self.topo, inst):
            self.dhcp([instance])

    def groups_changed(self, vpc, group):
        """After a security-group change: the members' groups as metadata shows them."""
        model = self.topo.vpcs[vpc]
        for inst in model.instances.values():
            if group in inst.security_groups:
                ids = [model.security_groups[g].id for g in inst.security_groups if g in model.security_groups]
                self.update(dict(op='security_groups', instance=inst.name, groups=list(inst.security_groups),
                                 group_ids=ids))

    def counters(self):
        """host -> the counters of its process (asked now; the last ones once it stopped)."""
        if not self.procs:
            return dict(self.final)
        return {h: a['counters'] for h, a in self.update(dict(op='counters')).items()}

    def answers(self):
        """All hosts' DNS and metadata counters, summed: {dns: {...}, metadata: {...}}."""
        return counters.totals(self.counters())

    # ---- stop -----------------------------------------------------------------------------------
    def stop(self):
        # each takes up to a second to close its servers: all at once, not one after another
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for host, proc in self.procs.items():
            try:
                self.final[host] = processes.stop(proc, timeout=5)     # SIGTERM; its last counters
            except subprocess.TimeoutExpired:
                self.final[host] = None
        self.procs = {}


def _readline(proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            return proc.stdout.readline()
        if proc.poll() is not None:
            return ''
    return ''


def _drain(stream):
    try:
        return stream.read() if stream else ''
    except (OSError, ValueError):
        return ''
