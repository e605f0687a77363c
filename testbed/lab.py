"""testbed.Lab: the one way to start a lab (CLI, tests, benchmarks and labs use it).

    with Lab('topologies/default.yaml') as lab:
        print(lab.node('web-1').cmd('ping -c1 10.0.2.4'))

Start-up order: validate the file, check the machine, record the run state, start the
controller, build the network, wait until every hypervisor is programmed.  Anything
that fails on the way, an exception or Ctrl-C, tears down what was built.  Nothing of a
run stays on the machine (its run directory goes too) but what `keep=DIR` asks to keep.
"""
import atexit
import os
import signal
import threading
import time

from mininet.log import setLogLevel

from testbed import flowlogs, run_dir
from testbed import security_groups as group_rules
from testbed.errors import LabError, UsageError
from testbed.fabric import conntrack, edge, hyperplane, nic_capture, platform
from testbed.fabric.controller import ControllerProcess, controller_config, free_port
from testbed.fabric.host_services import HostServices
from testbed.fabric.names import DEFAULT_PREFIX, Names
from testbed.fabric.network import Network
from testbed.fabric.runstate import RunState
from testbed.management_client import ManagementClient
from testbed.topology import Topology, load


class Lab:
    def __init__(self, topology, mode=None, prefix=DEFAULT_PREFIX, progress=None,
                 security_groups=True, keep=None, cables='patch', state_store=None):
        """security_groups=False builds the same pipeline without conntrack (benchmarks);
        keep: a directory to write the run's flow logs and controller log to when it stops;
        cables: 'patch' (OVS patch ports between the fabric's bridges) or 'veth' (the old
        fabric, for comparisons; testbed/fabric/cables.py); state_store: 'embedded' or 'etcd' for
        the Hyperplane nodes (default: the topology's `hyperplane.state_store`)."""
        self.keep = keep
        self.cables = cables
        topo = topology if isinstance(topology, Topology) else load(topology)
        self.enforce_groups = security_groups
        self.topology = topo.with_mode(mode) if mode else topo
        self.names = Names(prefix)
        self.progress = progress or (lambda msg: None)
        self.state = None
        self.controller = None
        self.network = None
        self.edge = None                # the edge and the outside world (fabric/edge.py), when used
        self.hyperplane = None          # the Hyperplane nodes and their store (fabric/hyperplane.py), when used
        self.state_store = state_store
        self.api = None
        self.run_dir = None
        self.services = None          # DNS, metadata and DHCP clients (testbed/fabric/host_services.py)
        self.timings = {}
        self._old_sigterm = None

    # ---- life ------------------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=120.0):
        platform.check()
        self._claim()
        try:
            t0 = time.monotonic()
            self.run_dir = run_dir.new(self.topology.name)
            self.progress('starting the controller (mapping service + hypervisors)')
            api_port = free_port()
            self.controller = ControllerProcess(
                self.run_dir, controller_config(self.topology, self.names, api_port, self.run_dir,
                                                self.enforce_groups, self.state.new_api_token()))
            self.controller.start(self.state.add_process)
            # what `vpclab flowlogs` and `vpclab security-group` need to find this lab
            self.state.data.update(run_dir=self.run_dir, api_port=api_port,
                                   topology=self.topology.path)
            self.state.save()
            self.api = ManagementClient(api_port, token=self.state.api_token())
            self.progress(f'building {len(self.topology.hosts)} physical hosts and '
                          f'{len(self.topology.instances())} instances')
            setLogLevel('error')
            self.network = Network(self.topology, self.names, self.controller.ofp_port,
                                   self.state.add, cables=self.cables)
            self.network.build()
            self.hyperplane = hyperplane.start(self, self.state_store)
            self.edge = edge.start(self)
            conntrack.enable_reassembly()
            self.timings['build_s'] = time.monotonic() - t0
            self.progress('waiting until every hypervisor is programmed')
            self.wait_ready(timeout)
            self.services = HostServices(self).start()
            self.timings['ready_s'] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise

    def _claim(self):
        # one lab at a time: every lab puts its underlay addresses on this machine
        for old in RunState.existing():
            if old.lab_running():
                raise LabError(f'another lab is running (PID {old.data.get("lab_pid")}, prefix '
                               f'{old.data.get("prefix")!r}); stop it first')
            raise LabError(f'a crashed lab left things behind ({old.path}); run `sudo vpclab down`')
        self.state = RunState.new(self.names.prefix)
        self.state.claim()
        atexit.register(self.stop)      # also for a lab started without `with`
        if threading.current_thread() is threading.main_thread():
            # SIGTERM should tear down like Ctrl-C does
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_exit)

    def stop(self):
        t0 = time.monotonic()
        failures = []

        def step(do):                   # every step runs even if one before it failed
            try:
                do()
            except Exception as exc:    # noqa: BLE001  (raised again once all ran)
                failures.append(exc)
        try:
            self.edge = self.edge and self.edge.stop()
            self.hyperplane = self.hyperplane and self.hyperplane.stop()
            if self.services is not None:
                self.services.stop()          # its last counters stay in self.services.final
            # the controller first: every port and bridge deleted would be an event for it to handle
            if self.controller is not None:
                step(self.controller.stop)
                self.controller = None
            if self.network is not None:
                step(self.network.stop)
                self.network = None
            step(self._close_run_dir)
            if self.state is not None:
                step(lambda: self.state.clean(log=lambda msg: None))   # anything Mininet missed
                self.state = None
            if failures:
                raise failures[0]
        finally:
            atexit.unregister(self.stop)
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
                self._old_sigterm = None
        self.timings['stop_s'] = time.monotonic() - t0

    def _close_run_dir(self):
        if self.run_dir is None or not os.path.isdir(self.run_dir):
            return
        try:
            if self.keep:
                self.progress(f'results kept in {self.keep}')
                run_dir.keep(self.run_dir, self.keep)
        finally:
            run_dir.remove(self.run_dir)

    def wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.api.status()
            if status['ready']:
                return status
            if self.controller.proc.poll() is not None:
                raise LabError('the controller died:\n' + self.controller.log_tail())
            time.sleep(0.05)
        raise LabError(f'hypervisors not programmed after {timeout:.0f} s: {status}\n{self.controller.log_tail()}')

    def wait_until(self, predicate, timeout=10.0, what='the expected state'):
        """Counters come from flow statistics polled every second: wait for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise LabError(f'timed out after {timeout:.0f} s waiting for {what}')

    # ---- what tests, experiments and the CLI use ---------------------------------------
    def node(self, name):
        try:
            return self.network.net.get(name)
        except KeyError:
            raise UsageError(f'no instance named {name!r} in this lab') from None

    def instances(self):
        return self.topology.instances()

    def host_of(self, instance):
        return self.network.location[instance]

    def bridge(self, host):
        return self.names.hypervisor(self.topology.hosts[host])

    def nic(self, host):
        """The interface to capture a physical host's NIC cable on (made on first use when
        the cable is a patch port; testbed/fabric/nic_capture.py)."""
        return nic_capture.capture_point(self.names, self._host(host))

    def nic_inject(self, host):
        """The interface where a frame sent arrives on a physical host's NIC cable from its ToR."""
        return nic_capture.injection_point(self.names, self._host(host))

    def _host(self, host):
        if host not in self.topology.hosts:
            raise UsageError(f'no physical host named {host!r}')
        return self.topology.hosts[host]

    def migrate(self, instance, host, timeout=30.0):
        """Move a running instance to another physical host; returns the change record
        once every cache that held the instance is right."""
        try:
            inst = self.topology.instance(instance)
        except KeyError:
            raise UsageError(f'no instance named {instance!r} in this lab') from None
        if host not in self.topology.hosts:
            raise UsageError(f'no physical host named {host!r}')
        if host == self.host_of(instance):
            raise UsageError(f'{instance} already runs on {host}')
        az = self.topology.vpcs[inst.vpc].subnets[inst.subnet].az
        if self.topology.hosts[host].az != az:
            raise UsageError(f'{instance} is in {az}; {host} is in {self.topology.hosts[host].az} '
                             '(an instance cannot leave its subnet\'s AZ)')
        t0 = time.monotonic()
        self.network.move(instance, host)
        record = self.api.wait_for_change(self.api.migrate(instance, host), timeout,
                                          f'the migration of {instance}')
        self.wait_ready(timeout)
        self.services.migrated(instance, host)
        return dict(record, total_seconds=time.monotonic() - t0)

    # ---- Hyperplane -------------------------------------------------------------------------
    def _fleet(self, node):
        if self.hyperplane is None:
            raise UsageError('this lab has no Hyperplane nodes (no NAT gateway, load balancer or interface endpoint)')
        if node not in self.hyperplane.nodes:
            raise UsageError(f'no Hyperplane node {node!r}; the nodes are {", ".join(self.hyperplane.nodes)}')
        return self.hyperplane

    @property
    def failed_nodes(self):
        return list(self.hyperplane.failed) if self.hyperplane else []

    def fail_node(self, node):
        """Hyperplane node `node` dies: its process is killed, the store forgets it, the VPC routers
        and Blackfoot stop sending to it; its shards are not refilled.  Established connections go
        on through the nodes that had copies of their state."""
        fleet = self._fleet(node)
        if node in fleet.failed:
            raise UsageError(f'{node} has failed already')
        fleet.fail(node)
        self._tell_failed()

    def restore_node(self, node):
        """Starts a failed node again: it asks its peers for their flow entries and takes traffic."""
        fleet = self._fleet(node)
        if node not in fleet.failed:
            raise UsageError(f'{node} has not failed')
        fleet.restore(node)
        self._tell_failed()

    def _tell_failed(self):
        failed = self.failed_nodes
        if self.edge:
            self.edge.hyperplane_failed(failed)
        self.api.set_failed_hyperplane(failed)
        self.wait_ready()

    def shards(self):
        """[(kind, name, vpc, serving nodes, failed nodes of its shard)] of every Hyperplane resource."""
        from testbed.fabric import hyperplane_plan
        return hyperplane_plan.shard_table(self.topology, self.failed_nodes)

    # ---- security groups and flow logs ------------------------------------------------------
    def security_group(self, vpc, group):
        """A group's rules now, as the API holds them."""
        return self.api.security_group(vpc, group)

    def set_security_group(self, vpc, group, inbound=None, outbound=None, timeout=30.0):
        """Replace a group's rules on the running lab (rules as in the topology file; a
        direction left out keeps its rules).  Returns once every host has the change.
        Tracked connections keep flowing, as in AWS."""
        change = group_rules.replace(self.api, self.topology, vpc, group, inbound, outbound, timeout)
        self.services.groups_changed(vpc, group)
        return change

    def wait_for_change(self, change, timeout=30.0):
        """The change record once change `change` (a number the API returned) reached every host."""
        return self.api.wait_for_change(change, timeout)

    @property
    def flow_log_path(self):
        return flowlogs.path_in(self.run_dir)

    def flow_logs(self, **filters):
        """Flow-log records written so far (dicts), filtered by eni, address, port, action."""
        return flowlogs.select(flowlogs.read(self.flow_log_path), **filters)

    def edge_counters(self):
        """The edge's counters now (its packet loop's, and its decisions' under 'handler': drops by
        reason as 'drop:<reason>'); {} without an edge."""
        return self.edge.counters() if self.edge else {}

    def datapath_drops(self):
        """Drops inside conntrack that no flow sees (bogus fragments): one datapath for all
        hosts, so these are not per host."""
        return conntrack.fragment_drops()


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


