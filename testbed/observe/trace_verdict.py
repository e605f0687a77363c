"""What a trace found, for both modes (model: testbed/observe/trace_model.py; wire: trace_wire.py): the
steps by stage name, the verdict, a Reachability-Analyzer-style explanation and the one-line form."""
from dataclasses import asdict, dataclass, field

from controllers import pipeline
from testbed.observe.trace_outside import OUTSIDE_STAGES

# elsewhere: delivered, to another instance (the address is someone else's where the route sends it);
# lost: wire mode, the packet was counted by no flow that drops or delivers it
EXPLAINED = ('EGRESS_SG_RULES', 'EGRESS_NACL', 'ROUTE_TABLE', 'MAPPING', 'HYPERPLANE_NODE', 'EDGE', 'INGRESS_NACL',
             'INGRESS_SG_RULES')
VERDICTS = ('reachable', 'dropped', 'not-carried', 'elsewhere', 'lost')
# what to change, per drop reason (the Reachability Analyzer's "explanation" says where to look)
FIX = {
    'security-group': 'add a rule to one of the ENI\'s security groups (vpclab security-group)',
    'network-acl': 'add an allow rule, numbered before the one that denies, to the subnet\'s network ACL',
    'no-route': 'add a route for the destination to the subnet\'s route table',
    'blackhole': 'the route\'s target is a blackhole: point the route at a target',
    'target-not-built': 'the gateway is in the model, but the data plane does not carry traffic to it yet',
    'unregistered-source': 'the inner source does not run on the host the packet came from (a forgery, or a '
                           'stale mapping after a migration)',
    'no-local-destination': 'the destination is no longer on the host the sender\'s cache points to',
    'spoofed-source': 'an instance may send only from its own MAC and IP',
    'unknown-port': 'the source is not running',
}


@dataclass
class Step:
    stage: str                  # a pipeline stage name (controllers/pipeline.py), or one of OUTSIDE_STAGES
    host: str | None            # the physical host whose virtual router decided (outside: the edge node,
    #                             Hyperplane node, outside host or network)
    decision: str               # pass | drop | note
    detail: str                 # the rule, route, mapping or flow that decided
    reason: str | None = None   # a drop's reason
    flow: str | None = None     # wire mode: the OpenFlow flow (ovs-ofctl's words)
    packets: int | None = None  # wire mode: how many packets the flow counted (the real packet's)


@dataclass
class Trace:
    src: str
    dst: str
    probe: object
    mode: str                   # model | wire
    source: str                 # where the state came from
    steps: list = field(default_factory=list)
    verdict: str | None = None
    stage: str | None = None    # where it was dropped
    host: str | None = None
    reason: str | None = None
    why: str = ''               # the verdict's own words (not-carried)
    reply: str = ''             # model: what becomes of the reply (stateless ACLs, route back)
    arrival: tuple | None = None  # model: (vni, edge node, host, packet bytes, MAC) of what the edge sent into a VPC
    model: object = None        # wire: the model's Trace of the same packet

    # ---- building ------------------------------------------------------------------------------
    def add(self, stage, host, detail, decision='pass', **kw):
        if stage not in OUTSIDE_STAGES:
            pipeline.stage(stage)            # a typo is a bug: every other stage name is the pipeline's
        self.steps.append(Step(stage, host, decision, detail, **kw))
        return self

    def note(self, stage, host, detail):
        return self.add(stage, host, detail, 'note')

    def decide(self, stage, host, decision, reason):
        """A Decision (trace_rules) as a step; False if it drops (the trace ends there)."""
        if decision.allow:
            self.add(stage, host, f'allow: {decision.why}')
            return True
        self.drop(stage, host, reason, f'deny: {decision.why}')
        return False

    def drop(self, stage, host, reason, detail, **kw):
        assert stage in OUTSIDE_STAGES or reason in pipeline.stage(stage).reasons, f'{stage} does not drop for {reason}'
        self.add(stage, host, detail, 'drop', reason=reason, **kw)
        self.verdict, self.stage, self.host, self.reason = 'dropped', stage, host, reason
        return self

    def reachable(self):
        self.verdict = 'reachable'
        return self

    def elsewhere(self, why):
        self.verdict, self.why = 'elsewhere', why
        return self

    def lost(self, why):
        self.verdict, self.why = 'lost', why
        return self

    def not_carried(self, why):
        self.verdict, self.why = 'not-carried', why
        return self

    # ---- reading -------------------------------------------------------------------------------
    @property
    def key(self):
        """What the two modes must agree on: the verdict and where it was dropped."""
        return self.verdict, self.stage, self.host, self.reason

    def agrees(self, other):
        """Do two traces of one packet agree (verdict, and where it was dropped)?  The model cannot know
        which edge node a packet from outside enters by when there are several ('edge*')."""
        def same(a, b):
            return a == b or {a, b} & {'edge*'} and all(str(x).startswith('edge') for x in (a, b))
        return all(same(a, b) for a, b in zip(self.key, other.key))

    def minimal(self):
        head = f'{self.src} -> {self.dst} {self.probe}'
        if self.verdict == 'reachable':
            return f'{head}: allowed'
        if self.verdict == 'dropped':
            return f'{head}: dropped at {self.stage} on {self.host}: {self.reason}'
        return f'{head}: {self.verdict.replace("-", " ")}: {self.why}'

    def explanation(self):
        if self.verdict == 'reachable' and self.mode == 'wire':
            hosts = list(dict.fromkeys(s.host for s in self.steps))
            return (f'Reachable: the packet crossed {" and ".join(hosts)} and was delivered by '
                    f'{self.steps[-1].flow}.')
        if self.verdict == 'reachable':
            said = [f'{s.stage} {s.detail.removeprefix("allow: ")}' for s in self.steps
                    if s.decision == 'pass' and s.stage in EXPLAINED]
            reply = f' {self.reply[0].upper()}{self.reply[1:]}.' if self.reply else ''
            return f'Reachable: {self.src} reaches {self.dst} by {self.probe}: {"; ".join(said)}.{reply}'
        if self.verdict == 'dropped':
            last = self.steps[-1].detail.removeprefix('deny: ')
            fix = f' {FIX[self.reason][0].upper()}{FIX[self.reason][1:]}.' if self.reason in FIX else ''
            counted = f' (flow {self.steps[-1].flow})' if self.mode == 'wire' else ''
            last = 'its drop flow counted the packet' if self.mode == 'wire' else last
            return f'Not reachable: {self.stage} on {self.host} drops it ({self.reason}): {last}{counted}.{fix}'
        return f'{self.verdict.replace("-", " ").capitalize()}: {self.why}.'

    def document(self):
        return dict(Source=self.src, Destination=self.dst, Protocol=str(self.probe), Mode=self.mode,
                    State=self.source, Verdict=self.verdict, Stage=self.stage, Host=self.host, Reason=self.reason,
                    Explanation=self.explanation(), Reply=self.reply or None,
                    Steps=[{k.capitalize(): v for k, v in asdict(s).items()} for s in self.steps])


def gateway_words(topo, vpc, target):
    """What a route's gateway target is, for a target-not-built drop."""
    kind, _, name = target.partition(':')
    said = {'igw': f'the internet gateway {vpc.internet_gateway or "(the VPC has none)"}',
            'vgw': f'the VPN gateway {vpc.vpn_gateway or "(the VPC has none)"}',
            'nat': f'NAT gateway {name}', 'dx': f'Direct Connect {name}', 'vpce': f'gateway endpoint {name}'}
    return f'{said.get(kind, target)}, which the data plane does not carry traffic to yet'
