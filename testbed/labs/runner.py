"""Runs checks (testbed/labs/checks.py) on a running lab with real packets: a testbed.lab.Lab, or the lab
running on this machine seen from another terminal (testbed.commands.lab_commands.RunningLab).

Every packet is sent from its source's own namespace (an instance's, or an outside host's: entered by the
PID the run state recorded, testbed/commands/inspect.py): tcp and udp by testbed/labs/probe.py, against a
listener it starts on the target's port when nothing listens there (stopped by its PID), icmp by ping,
with the Hyperplane nodes the check names failed for its time (testbed.lab.Lab.fail_node, restore_node),
DNS by dig at the VPC's DNS server (base + 2).  Where and why a denied packet was dropped is read from the
data plane itself: the drop flows of every host bridge whose counters moved (their cookie names the
reason, their table the stage; testbed/observe/trace_wire.py reads them the same way) and the drop counters
by reason of the edge nodes and the Hyperplane nodes (the files their processes rewrite in the run directory,
as `vpclab trace --wire` reads them: testbed/observe/trace_beyond.py); the model's trace
(testbed/observe/trace_model.py) adds the words of the rule that decided when it agrees on the stage."""
import ipaddress
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, replace

from controllers import pipeline as P
from testbed.commands.inspect import enter
from testbed.errors import LabError, UsageError
from testbed.labs.checks import S3_NAME, Drop, Result
from testbed.observe.trace_beyond import appliances, delta, fresh, lab_run_dir
from testbed.observe.trace_wire import moved, snapshot

PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'probe.py')
DEADLINE_S = 1.0            # how long a denied packet is waited for
LISTENER_S = 3.0            # how long a listener may take to start
SETTLE_MIN_S, SETTLE_MAX_S = 0.5, 1.5   # waiting for the flows' counters to take in a probe's last packets
INVALID = 'invalid-packet'  # conntrack's drop reason (controllers/pipeline.py)


@dataclass(frozen=True)
class Target:
    ip: str
    listeners: tuple        # (node name, port): where the packet ends up (a load balancer's targets ...)
    via_edge: bool          # the packet meets the edge (or a Hyperplane node, whose packets go on through it)


class Runner:
    def __init__(self, lab):
        self.lab, self.topo, self.state = lab, lab.topology, lab.state

    def run(self, checks):
        return [self.one(c) for c in checks]

    def one(self, check):
        t0 = time.monotonic()
        try:
            if check.dns:
                observed, detail = self._dns(check)
                return Result(check, observed, detail, seconds=time.monotonic() - t0)
            target = self.target(check)
            with NodesDown(self.lab, check.failed), Listeners(self, check.protocol, target.listeners):
                before = self._drops_now(target)
                ok, detail, sports = self._send(check, target)
                drops = []
                if not ok:
                    drops, detail = self._explained(check, self._drops_since(before, target), target, detail, sports)
            return Result(check, 'allowed' if ok else 'denied', detail, drops, time.monotonic() - t0)
        except (LabError, UsageError, subprocess.SubprocessError, OSError) as exc:
            return Result(check, '', error=' '.join(str(exc).split()), seconds=time.monotonic() - t0)

    # ---- where the packet goes ------------------------------------------------------------------
    def target(self, check):
        """The address a check's packet is sent to and the nodes that should receive it."""
        topo, to, port = self.topo, check.to, check.port
        src_outside = self._instance(check.src) is None
        if to == S3_NAME:
            return Target(topo.services.s3_ip, ((S3_NAME, port),), True)
        for vpc in topo.vpcs.values():
            if to in vpc.instances:
                return Target(vpc.instances[to].ip, ((to, port),), src_outside)
            if to in vpc.elastic_ips:
                e = vpc.elastic_ips[to]
                return Target(e.address, ((e.instance, port),) if e.instance else (), True)
            if to in vpc.load_balancers:
                lb = vpc.load_balancers[to]
                address = lb.addresses[0]
                ip = address.public_ip if src_outside and address.public_ip else address.ip
                return Target(ip, _targets(lb, port), True)
            if to in vpc.endpoints:
                ep = vpc.endpoints[to]
                if ep.ip is None:            # a gateway endpoint: its service, S3
                    return Target(topo.services.s3_ip, ((S3_NAME, port),), True)
                return Target(ep.ip, _targets(self._service_balancer(ep), port), True)
        hosts = topo.outside.hosts()
        if to in hosts:
            return Target(hosts[to].ip, ((to, port),), True)
        return self._address(check.src, to, port)

    def _address(self, src, ip, port):
        """A bare address: whose it is as seen from the source (its VPC and peers, elastic IPs, outside)."""
        topo = self.topo
        inst = self._instance(src)
        if inst is not None:
            vpc = topo.vpcs[inst.vpc]
            for v in [vpc, *(w for w in topo.vpcs.values() if topo.peered(vpc.name, w.name))]:
                owner = next((i for i in v.instances.values() if i.ip == ip), None)
                if owner is not None:
                    return Target(ip, ((owner.name, port),), False)
            # the VPC's own load balancers and interface endpoints (only there: docs/topology-format.md)
            lb = next((b for b in vpc.load_balancers.values() if any(a.ip == ip for a in b.addresses)), None)
            ep = next((e for e in vpc.endpoints.values() if e.ip == ip), None)
            if lb or ep:
                return Target(ip, _targets(lb or self._service_balancer(ep), port), True)
            inside = ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(vpc.cidr)
        else:
            inside = False
        for vpc in topo.vpcs.values():
            for e in vpc.elastic_ips.values():
                if e.address == ip:
                    return Target(ip, ((e.instance, port),) if e.instance else (), True)
            for lb in vpc.load_balancers.values():
                if any(a.public_ip == ip for a in lb.addresses):
                    return Target(ip, _targets(lb, port), True)
        for host in topo.outside.hosts().values():
            if host.ip == ip:
                return Target(ip, ((host.name, port),), True)
        if ip == topo.services.s3_ip:
            return Target(ip, ((S3_NAME, port),), True)
        return Target(ip, (), not inside)

    def _service_balancer(self, ep):
        """The load balancer behind interface endpoint `ep`: its endpoint service's, in the provider's VPC."""
        provider, _, service = ep.service.partition('/')
        vpc = self.topo.vpcs[provider]
        return vpc.load_balancers[vpc.endpoint_services[service].load_balancer]

    def _instance(self, name):
        try:
            return self.topo.instance(name)
        except KeyError:
            return None

    # ---- sending --------------------------------------------------------------------------------
    def _send(self, check, target):
        """(allowed, what was seen, the source ports of its attempts) for one check's packets from its source's
        namespace."""
        if check.protocol == 'icmp':
            # -w takes whole seconds; -i 0.2: three tries within it (a first one may wait on a cache miss)
            out = self.run_in(check.src, ['ping', '-n', '-q', '-c', '3', '-i', '0.2', '-w', str(round(DEADLINE_S)),
                                          target.ip])
            received = _received(out.stdout)
            return received > 0, f'{received} of 3 pings answered' if received else \
                f'no echo reply within {round(DEADLINE_S)} s', ()
        out = self.run_in(check.src, [sys.executable, PROBE, 'connect', check.protocol, target.ip, str(check.port),
                                      str(DEADLINE_S)])
        said = {0: 'connected' if check.protocol == 'tcp' else 'echoed',
                1: 'refused (nothing listens there, or a reset)', 2: f'no answer within {DEADLINE_S:g} s'}
        sports = tuple(int(w[1]) for w in (line.split() for line in out.stdout.splitlines())
                       if len(w) == 2 and w[0] == 'sport' and w[1].isdigit())
        return out.returncode == 0, said.get(out.returncode, (out.stderr or out.stdout).strip()[-200:]), sports

    def _dns(self, check):
        inst = self.topo.instance(check.src)
        server = str(ipaddress.IPv4Network(self.topo.vpcs[inst.vpc].cidr).network_address + 2)
        out = self.run_in(check.src, ['dig', f'@{server}', '+time=1', '+tries=2', '+noall', '+comments',
                                      '+answer', check.dns, 'A'])
        return dig_answer(out.stdout, out.returncode, server)

    def enter(self, node):
        return ['nsenter', *enter(self.state, node), '--']

    def run_in(self, node, argv, timeout=10):
        try:
            return subprocess.run([*self.enter(node), *argv], capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError as exc:
            raise LabError(f'{exc.filename} is missing on this machine') from None

    # ---- why it was dropped ---------------------------------------------------------------------
    def _drops_now(self, target):
        return snapshot(self.lab), appliances(lab_run_dir(self.lab)) if target.via_edge else None

    def _drops_since(self, before, target):
        flows, boxes = before
        # the edge's and the nodes' counts are taken in as the packets go: any of their files written after
        # the probe ended has them, so waiting for those overlaps with the flows' settling
        ended = time.time()
        found = []
        for host, hits in moved(flows, self._settled()).items():
            for key, (f, _) in hits.items():
                kind, ident = P.cookie_kind(int(f['cookie'], 16)), P.cookie_ident(int(f['cookie'], 16))
                if kind == P.KIND_DROP and ident in P.DROP_REASONS:
                    found.append((key[0], Drop(host, P.stage(key[0]).name, P.DROP_REASONS[ident],
                                               f'flow priority {f["priority"]}, {f["match"] or "(all)"}')))
        drops = [d for _, d in sorted(found, key=lambda x: x[0])]
        if boxes is not None:
            drops += box_drops(boxes, fresh(lab_run_dir(self.lab), ended))
        return drops

    def _settled(self):
        """The host bridges' flows once their counters stopped moving: OVS's revalidators copy the
        datapath's counts into the OpenFlow flows' about every half second, so the last packets of a
        probe are counted a little after it ended."""
        start = time.monotonic()
        last = snapshot(self.lab)
        while time.monotonic() - start < SETTLE_MAX_S:
            time.sleep(0.25)
            now = snapshot(self.lab)
            if _counts(now) == _counts(last) and time.monotonic() - start >= SETTLE_MIN_S:
                return now
            last = now
        return last

    def _explained(self, check, drops, target, detail, sports):
        """(drops, detail) with the model's words: for the rule that decided where the model agrees with a
        counted drop (that drop first: other traffic of the lab, health checks say, may have moved other
        drop counters meanwhile); where no drop counter moved, the model's verdict instead (a drop it
        predicts, marked as not counted, or why it would be delivered).  The model traces each attempt's
        source port: attempts of one check may meet different Hyperplane nodes."""
        models = self._models(check, target, sports)
        model = models[0] if models else None
        predicted = {where: words for where, words in map(_model_drop, models) if where is not None}
        if drops:
            drops = [Drop(d.host, d.stage, d.reason, predicted[key])
                     if (key := (d.stage, d.host, d.reason)) in predicted else d for d in drops]
            # then the rest in journey order, conntrack's invalid packets last: those are mostly the
            # stragglers of connections that ended just before (an earlier check's, torn down)
            return sorted(dict.fromkeys(drops), key=lambda d: ((d.stage, d.host, d.reason) not in predicted,
                                                               d.reason == INVALID)), detail
        where = _model_drop(model)[0] if model is not None else None
        if where is not None:
            return [Drop(where[1], where[0], where[2], predicted[where], counted=False)], detail
        said = f'{detail}; no drop counter moved'
        known = model is not None and model.verdict != 'not-carried'       # not-carried: the model cannot tell
        return [], said + (f', and the model says: {model.explanation()}' if known else '')

    def _models(self, check, target, sports):
        """The model's traces of the check's packet (testbed/observe/trace_model.py), one per source port (the
        model's own when none is given); none where the model does not know the source or destination."""
        from testbed.commands.trace import probe
        from testbed.observe.trace_model import TraceState, trace
        state, sent = TraceState.of_lab(self.lab), probe(check.probe)
        for dst in (check.to, target.ip):       # an endpoint, the S3 host: the trace may know only the address
            try:
                return [trace(self.topo, state, check.src, dst, replace(sent, sport=s) if s else sent)
                        for s in sports or (None,)]
            except (UsageError, LookupError, ValueError):     # a name or address the model does not know
                continue
        return []


def _model_drop(model):
    """((stage, host, reason), words) of the drop the model predicts, for the packet or its reply (stateless
    ACLs); (None, '') when it predicts none."""
    if model.verdict == 'dropped':
        return (model.stage, model.host, model.reason), model.steps[-1].detail.removeprefix('deny: ')
    if ' would be dropped at ' in model.reply:
        said = model.reply.partition(' would be dropped at ')[2]
        stage, _, rest = said.partition(' on ')
        host, _, words = rest.partition(': ')
        return (stage, host, 'network-acl'), f'the reply: {words}'
    return None, ''


def box_drops(before, after):
    """The drops the edge nodes ('edge1' ...) and Hyperplane nodes ('hp1' ...) counted (`drop:<reason>`)
    between two reads of their counters (trace_beyond.appliances), at the stages `vpclab trace` names."""
    return [Drop(box, 'HYPERPLANE_NODE', key[5:]) if box.startswith('hp') else Drop(box, 'EDGE', key[5:], 'Blackfoot')
            for box, moved_by in sorted(delta(before, after).items())
            for key, n in moved_by.items() if key.startswith('drop:') and n > 0]


def _targets(lb, port):
    """(target, target port) of the load balancer's listener on `port` (none: nothing listens)."""
    listener = next((x for x in lb.listeners if x.port == port), None)
    return tuple((t, listener.target_port) for t in listener.targets) if listener else ()


def _received(text):
    for part in text.replace(',', '\n').splitlines():
        words = part.split()
        if len(words) == 2 and words[1] == 'received':
            return int(words[0])
    return 0


def _counts(flows):
    return {host: {key: f['n_packets'] for key, f in by_key.items()} for host, by_key in flows.items()}


def dig_answer(stdout, returncode, server):
    """(the A records' addresses or 'nxdomain', what was seen) from dig's +comments +answer output."""
    status = next((line.split('status: ')[1].split(',')[0] for line in stdout.splitlines() if 'status: ' in line), None)
    if status == 'NXDOMAIN':
        return 'nxdomain', f'{server} answered NXDOMAIN'
    answers = [words[4] for words in (line.split() for line in stdout.splitlines())
               if len(words) >= 5 and not words[0].startswith(';') and words[3] == 'A']
    if answers:
        return ','.join(answers), f'{server} answered'
    if status == 'NOERROR':         # the name exists (a zone's own name, say) but has no address
        return '', f'{server} answered NOERROR with no address (the name has no A record)'
    if status:
        return '', f'{server} answered {status}'
    return '', f'no answer from {server}' + (f' ({stdout.strip()[-120:]})' if returncode else '')


class NodesDown:
    """The check's Hyperplane nodes failed for its time (those not down already), restored after it."""

    def __init__(self, lab, nodes):
        self.lab, self.nodes, self.failed = lab, nodes, []

    def __enter__(self):
        if not self.nodes:
            return self
        if not hasattr(self.lab, 'fail_node'):
            raise UsageError(f'failing {", ".join(self.nodes)} stops its process, which only the lab\'s own process '
                             'can: run the checks in the lab\'s shell (`check`) or with `vpclab check`')
        try:
            for node in self.nodes:
                if node not in self.lab.failed_nodes:
                    self.lab.fail_node(node)
                    self.failed.append(node)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        while self.failed:
            self.lab.restore_node(self.failed.pop())


class Listeners:
    """A listener on each (node, port) where nothing listens yet, for the time of one check; stopped by PID."""

    def __init__(self, runner, protocol, where):
        self.runner, self.protocol, self.where, self.procs = runner, protocol, where, []

    def __enter__(self):
        if self.protocol not in ('tcp', 'udp'):
            return self
        try:
            for node, port in self.where:
                if not self._listening(node, port):
                    self._start(node, port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _listening(self, node, port):
        flag = '-Hltn' if self.protocol == 'tcp' else '-Hlun'
        return bool(self.runner.run_in(node, ['ss', flag, f'sport = :{port}']).stdout.strip())

    def _start(self, node, port):
        proc = subprocess.Popen([*self.runner.enter(node), sys.executable, PROBE, 'listen', self.protocol, str(port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        if not select.select([proc.stdout], [], [], LISTENER_S)[0] or proc.stdout.readline().strip() != 'ready':
            raise LabError(f'the check\'s listener on {node} {self.protocol}/{port} did not start: '
                           f'{proc.stderr.read()[-200:] if proc.poll() is not None else "no answer"}')

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.procs = []
