"""Checks files (labs/<NN-name>/checks.yaml, docs/topology-format.md "Labs and checks"): read and validate
them against a topology, judge what the runner observed, and write the results as a table, JSON, CSV or
JUnit XML.  Pure: no lab, no root (the runner, testbed/labs/runner.py, sends the packets).

    checks:
      - {name: web reaches db, from: web-1, to: db-1, protocol: tcp, port: 5432, expect: allowed}
      - {from: web-1, to: red-1, protocol: icmp, expect: denied, reason: no-mapping}
      - {from: web-1, dns: db.corp.internal, expect: 10.0.1.20}
      - {from: app-1, to: web-nlb, protocol: tcp, port: 80, expect: allowed, failed: [hp2]}

`failed` names Hyperplane nodes that are down while the check's packets are sent (the runner fails them
before and restores them after, as `vpclab hyperplane fail|restore` does).

Errors are one line naming FILE:LINE, like the topology's (TopologyError, exit code 2)."""
import dataclasses
import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import yaml

from controllers.pipeline import DROP_REASONS
from testbed.commands.output import Report, Table
from testbed.fabric.hyperplane_plan import nodes as hyperplane_nodes
from testbed.topology.edge_model import InternetHost, SiteHost
from testbed.topology.loader import read
from testbed.topology.model import Instance
from testbed.topology.values import dns_name, hint
from testbed.topology.yaml_nodes import compose

PROTOCOLS = ('tcp', 'udp', 'icmp')
EXPECTS = ('allowed', 'denied')
NXDOMAIN = 'nxdomain'       # a DNS check's expect: the name does not exist where it is asked
KEYS = ('name', 'from', 'to', 'dns', 'protocol', 'port', 'expect', 'reason', 'failed')
# What Blackfoot counts its drops as (testbed/appliances/blackfoot.py, esp.py: `drop:<reason>`); the
# hypervisors' reasons are the pipeline's (controllers/pipeline.py).  A unit test keeps this list complete.
EDGE_DROP_REASONS = (
    'not-ipv4', 'no-route', 'target-not-edge', 'no-elastic-ip', 'no-vpn-connection', 'no-dx-connection',
    'no-endpoint', 'not-the-service', 'wrong-vlan', 'source-not-site', 'no-route-to-igw', 'no-route-to-vgw',
    'no-route-to-dx', 'no-route-to-vpce', 'unroutable-source', 'unroutable-destination', 'ttl-expired',
    'no-mapping', 'no-flow', 'not-a-flow', 'no-live-node', 'esp-bad-icv', 'esp-bad-padding', 'esp-not-esp',
    'esp-not-tunnel', 'esp-replay', 'esp-sequence-exhausted', 'esp-short', 'esp-unknown-spi')
# What a Hyperplane node counts its drops as (testbed/appliances/hyperplane/wire.py: `drop:<reason>`, its
# NAT gateways', NLBs' and interface endpoints' verdicts).  A unit test keeps this list complete too.
HYPERPLANE_DROP_REASONS = (
    'not-tunnel', 'not-ipv4', 'not-served', 'no-listener', 'no-target', 'not-a-flow', 'no-flow',
    'ports-exhausted', 'not-this-load-balancer', 'not-this-endpoint')
# counted from meters, not drop flows, and met only by a flood: a check's few packets never are
UNCHECKABLE = ('services-throttled',)
REASONS = tuple(r for r in dict.fromkeys((*DROP_REASONS.values(), *EDGE_DROP_REASONS, *HYPERPLANE_DROP_REASONS))
                if r not in UNCHECKABLE)
S3_NAME = 's3'              # the lab's S3 host (docs/topology-format.md, "Names in the whole file")


@dataclass(frozen=True)
class Check:
    name: str
    src: str                    # from: an instance or an outside host
    line: int                   # where the check starts in its file
    to: str | None = None       # a name of the file (Topology.find), the S3 host or an address
    dns: str | None = None      # a DNS check's question (then no to, protocol or port)
    protocol: str | None = None
    port: int | None = None
    expect: str = 'allowed'     # allowed | denied, or a DNS check's address (or nxdomain)
    reason: str | None = None   # a denial must be reported by the data plane with this reason
    failed: tuple = ()          # Hyperplane nodes down while the packets are sent

    @property
    def probe(self):
        """tcp/5432, udp/53, icmp (what `vpclab trace` takes), or dns."""
        if self.dns:
            return 'dns'
        return self.protocol if self.port is None else f'{self.protocol}/{self.port}'

@dataclass(frozen=True)
class Drop:
    """Where and why the data plane dropped a check's packet: a physical host's pipeline stage, an edge node
    (EDGE) or a Hyperplane node (HYPERPLANE_NODE, as `vpclab trace` names them), the reason it counted, and
    the rule (flow, or the model's words for it) that decided.  Not counted: no drop counter moved, and
    this is where the model (`vpclab trace`) says it is dropped."""
    host: str | None
    stage: str
    reason: str
    rule: str = ''
    counted: bool = True

    def words(self):
        where = f' on {self.host}' if self.host else ''
        said = f'dropped at {self.stage}{where}: {self.reason}' + (f' ({self.rule})' if self.rule else '')
        return said if self.counted else f'no drop counter moved; the model says it is {said}'


@dataclass
class Result:
    check: Check
    observed: str               # allowed | denied, or what DNS answered (addresses, or nxdomain / no answer)
    detail: str = ''            # what the probe saw: refused, no reply within 1 s, ...
    drops: list = field(default_factory=list)   # Drop, in the order the packet met them
    seconds: float = 0.0
    error: str | None = None    # the check could not be run (a LabError's words)

    @property
    def passed(self):
        return self.error is None and judge(self.check, self.observed, self.drops)[0]

    @property
    def why(self):
        """For a failure: what was expected against what happened, and where the packet was dropped."""
        if self.error:
            return f'could not run: {self.error}'
        ok, words = judge(self.check, self.observed, self.drops)
        if ok:
            return ''
        return f'{words}: {self.detail}' if self.detail and not self.drops and self.observed != 'allowed' else words


def judge(check, observed, drops):
    """(passed, the words for a failure)."""
    if check.dns:
        answers = observed.split(',') if observed else []
        if check.expect in answers:
            return True, ''
        return False, f'{check.dns} answered {observed or "nothing"}, expected {check.expect}'
    if observed != check.expect:
        said = f'{observed}, expected {check.expect}'
        if drops:
            return False, f'{said}: {drops[0].words()}'
        return False, said
    if check.expect == 'denied' and check.reason and check.reason not in {d.reason for d in drops if d.counted}:
        seen = '; '.join(d.words() for d in drops) or 'the data plane counted no drop for it'
        return False, f'denied, but not for {check.reason}: {seen}'
    return True, ''


# ---- reading ------------------------------------------------------------------------------------

def load(path, topology):
    """The checks of the file at `path`, validated against `topology` (names, protocols, reasons)."""
    path = str(path)
    return loads(read(path), path, topology)


def loads(text, path, topology):
    root = compose(text, path, ('the checks file is empty; it needs a checks: list (see docs/topology-format.md, '
                                '"Labs and checks")', 'checks:'))
    top = root.mapping(('checks',), {'checks': '[{from: web-1, to: db-1, protocol: tcp, port: 5432, '
                                               'expect: allowed}]'})
    items = top['checks'].sequence()
    if not items:
        top['checks'].fail('no checks; list at least one')
    checks, names = [], {}
    for item in items:
        c = _check(item, topology)
        if c.name in names:
            item.fail(f'check {c.name!r} is written twice (first on line {names[c.name]}); give one a name:')
        names[c.name] = c.line
        checks.append(c)
    return tuple(checks)


def _check(node, topo):
    v = node.mapping(KEYS, {'from': 'from: web-1', 'expect': 'expect: allowed'})
    src = _name(v['from'], topo, sources=True)
    if ('to' in v) == ('dns' in v):
        node.fail('give either to: (a packet) or dns: (a DNS question), not both or neither')
    if 'dns' in v:
        for key in ('protocol', 'port', 'reason', 'failed'):
            if key in v:
                v[key].fail(f'a DNS check takes no {key}: it asks the VPC\'s DNS server (udp/53)')
        if not isinstance(_find(topo, src), Instance):
            v['from'].fail(f'{src} is no instance: only instances ask their VPC\'s DNS server')
        question = dns_name(v['dns'], v['dns'].text(), amazon_ok=True)     # ip-10-0-1-10.ec2.internal too
        expect = v['expect'].text()
        if expect != NXDOMAIN:
            try:
                expect = str(ipaddress.IPv4Address(expect))
            except ValueError:
                v['expect'].fail(f'{expect!r}: a DNS check expects the IPv4 address the name resolves to, '
                                 f'or {NXDOMAIN}')
        return Check(_given_name(v) or f'{src} dns {question}', src, node.line, dns=question, expect=expect)
    to = _name(v['to'], topo, sources=False)
    protocol = v['protocol'].choice(PROTOCOLS, 'a protocol') if 'protocol' in v else \
        node.fail(f'\'protocol\' is missing; add it, one of {", ".join(PROTOCOLS)}')
    port = None
    if protocol == 'icmp':
        if 'port' in v:
            v['port'].fail('icmp has no port; a port goes with protocol tcp or udp')
    elif 'port' not in v:
        node.fail(f'{protocol} needs a port; add it, for example port: 80')
    else:
        port = v['port'].integer(1, 65535)
    expect = v['expect'].choice(EXPECTS, 'allowed or denied')
    reason = None
    if 'reason' in v:
        if expect != 'denied':
            v['reason'].fail('a reason goes with expect: denied (it is why the data plane dropped the packet)')
        if v['reason'].text() in UNCHECKABLE:
            v['reason'].fail(f'{v["reason"].text()} is met only by a flood (the meters count it), never by a '
                             f'check\'s few packets; see it with `vpclab counters`')
        reason = v['reason'].choice(REASONS, 'a drop reason the data plane reports')
    failed = _failed(v['failed'], topo) if 'failed' in v else ()
    c = Check('', src, node.line, to=to, protocol=protocol, port=port, expect=expect, reason=reason, failed=failed)
    without = f' without {", ".join(failed)}' if failed else ''
    return dataclasses.replace(c, name=_given_name(v) or f'{src} -> {to} {c.probe}{without}')


def _failed(node, topo):
    """`failed: hp2` or `failed: [hp1, hp2]`: Hyperplane nodes of the topology, not all of them."""
    names = [n.name for n in hyperplane_nodes(topo)]
    items = node.sequence() if isinstance(node.node, yaml.SequenceNode) else [node]
    if not items:
        node.fail('name at least one Hyperplane node, e.g. failed: [hp1], or leave failed out')
    out = []
    for item in items:
        name = item.text()
        if not names:
            item.fail(f'{name!r}: the topology has no Hyperplane nodes (no NAT gateway, load balancer or '
                      f'interface endpoint)')
        if name not in names:
            item.fail(f'{name!r} is no Hyperplane node; {hint(name, names, "the nodes are")}')
        if name in out:
            item.fail(f'{name} is named twice')
        out.append(name)
    if len(out) == len(names):
        node.fail(f'every Hyperplane node would be down ({", ".join(names)}); leave at least one')
    return tuple(out)


def _name(node, topo, sources):
    text = node.text()
    thing = _find(topo, text)
    if sources:
        if isinstance(thing, (Instance, InternetHost, SiteHost)):
            return text
        what = 'is no instance or outside host' if thing is not None or text == S3_NAME else 'is not in the topology'
        node.fail(f'{text!r} {what}; a check is sent from an instance or an outside host: '
                  f'{hint(text, _source_names(topo), "the topology has")}')
    if thing is not None or text == S3_NAME:
        return text
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        node.fail(f'{text!r} is not in the topology ({topo.path}) and is no IPv4 address; '
                  f'{hint(text, _target_names(topo), "names are")}')


def _source_names(topo):
    return [i.name for i in topo.instances()] + list(topo.outside.hosts())


def _target_names(topo):
    names = _source_names(topo)
    for vpc in topo.vpcs.values():
        names += [*vpc.elastic_ips, *vpc.load_balancers, *vpc.endpoints]
    return names


def _given_name(values):
    return values['name'].text() if 'name' in values else None


def _find(topo, name):
    try:
        return topo.find(name)
    except KeyError:
        return None


# ---- reports ------------------------------------------------------------------------------------

FORMATS = ('table', 'json', 'csv', 'junit')
COLUMNS = ('CHECK', 'EXPECT', 'GOT', 'RESULT', 'WHERE AND WHY')


def _where(r):
    if r.error:
        return f'could not run: {r.error}'
    if r.drops:
        return '; '.join(d.words() for d in r.drops)
    return r.detail if r.observed != 'allowed' or not r.passed else ''


def _row(r):
    expect = r.check.expect + (f' ({r.check.reason})' if r.check.reason else '')
    return (r.check.name, expect, r.observed or '-', 'pass' if r.passed else 'FAIL', _where(r))


def _doc(r):
    c = r.check
    return dict(Name=c.name, Line=c.line, From=c.src, To=c.to, Dns=c.dns, Protocol=c.protocol, Port=c.port,
                Expect=c.expect, Reason=c.reason, Failed=list(c.failed), Observed=r.observed, Passed=r.passed,
                Detail=r.detail, Why=r.why or None, Error=r.error, Seconds=round(r.seconds, 3),
                Drops=[dict(Host=d.host, Stage=d.stage, Reason=d.reason, Rule=d.rule, Counted=d.counted)
                       for d in r.drops])


def summary(results):
    failed = sum(1 for r in results if not r.passed)
    return f'{len(results) - failed} of {len(results)} checks passed' + (f', {failed} failed' if failed else '')


def report(results, title):
    """One run's results: a Report for -o table|json|csv (testbed/commands/output.py)."""
    lines = [title, summary(results)]
    lines += [f'FAIL {r.check.name}: {r.why}' for r in results if not r.passed]
    doc = dict(Title=title, Passed=sum(r.passed for r in results), Total=len(results),
               Checks=[_doc(r) for r in results])
    return Report([Table(COLUMNS, [_row(r) for r in results])], doc, lines)


def render(results, title, fmt):
    if fmt == 'junit':
        return junit([(title, results, None)])
    return report(results, title).render(fmt)


def junit(suites):
    """JUnit XML (what CI servers and graders read): one <testsuite> per (name, results, error);
    a suite whose run failed as a whole (error) has one <error> case.  xml.etree, from the standard
    library, writes it: the format is a handful of elements, no dependency needed for it."""
    root = ET.Element('testsuites', name='vpclab checks')
    for name, results, error in suites:
        cases = results or []
        suite = ET.SubElement(root, 'testsuite', name=name, tests=str(len(cases) or 1),
                              failures=str(sum(not r.passed and not r.error for r in cases)),
                              errors=str(sum(bool(r.error) for r in cases) + bool(error)),
                              time=f'{sum(r.seconds for r in cases):.3f}')
        if error:
            ET.SubElement(ET.SubElement(suite, 'testcase', name='the lab', classname=name), 'error',
                          message=error)
        for r in cases:
            case = ET.SubElement(suite, 'testcase', name=r.check.name, classname=name, time=f'{r.seconds:.3f}')
            if r.error:
                ET.SubElement(case, 'error', message=r.error)
            elif not r.passed:
                ET.SubElement(case, 'failure', message=r.why).text = _where(r)
    ET.indent(root)
    return ET.tostring(root, encoding='unicode', xml_declaration=True)


def grade_report(graded, title):
    """graded: [(student, results or None, error or None)], one per submission -> one Report: pass
    counts per student (table), every check of every student (csv), all of it (json)."""
    rows, every = [], []
    for student, results, error in graded:
        results = results or []
        failed = [r.check.name for r in results if not r.passed]
        rows.append((student, sum(r.passed for r in results), len(results), error or ', '.join(failed) or '-'))
        every += [(student, *_row(r)) for r in results]
        if error:
            every.append((student, 'the lab', '-', '-', 'ERROR', error))
    doc = dict(Title=title, Students=[dict(Student=s, Passed=sum(r.passed for r in rs or []), Total=len(rs or []),
                                           Error=e, Checks=[_doc(r) for r in rs or []]) for s, rs, e in graded])
    out = Report([Table(('STUDENT', 'PASSED', 'OF', 'FAILED CHECKS'), rows, empty='(no submissions)')], doc,
                 [title, f'{len(graded)} submissions'])
    out.csv_tables = [Table(('STUDENT', *COLUMNS), every)]
    return out


def render_grades(graded, title, fmt):
    if fmt == 'junit':
        return junit(graded)
    out = grade_report(graded, title)
    if fmt == 'csv':
        out.tables = out.csv_tables
    return out.render(fmt)
