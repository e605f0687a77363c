"""ROUTE_TABLE's ways into Hyperplane and the HYPERPLANE stage (issue 10): NAT gateways, NLBs and
interface endpoints run on Hyperplane nodes, and each flow goes to one live node of the resource's
shard (the nodes the controller configuration gives it, testbed/appliances/hyperplane/sharding.py).

Into Hyperplane (ROUTE_TABLE, which sets REG_HYPERPLANE to the resource and direction):
- a route to `nat:<name>`, in its place among the routes;
- above every route: a packet to an NLB's address on a listener port, to an interface endpoint's
  address (in the consumer's VPC), and from an NLB's target on its target port (the reply, whatever
  its destination: the client's address is preserved).

Which node (HYPERPLANE): no OpenFlow group and no state, masked matches.  A flow's bucket is the low
bits of the client's port (of its address without ports, e.g. ICMP; `sharding.bucket_of`): the
source on the way in, the destination for a target's reply, so both directions of an NLB connection
fall in the same bucket by construction.  Bucket b of resource r goes to `sharding.bucket_owner`
(r, b, live nodes), a rendezvous hash that the nodes and the trace model compute too: a failed
node's buckets move, every other bucket stays, and the shard is never refilled.  The packet stays the
instance's own, encapsulated in its VPC's VNI to the node's underlay address, as a route to the edge
(gateways.py); the connection is committed.
Packets from the nodes come back through Blackfoot (its `deliver`), so the receiving check needs only
the edge's door (gateways.check).
"""
import ipaddress

from controllers import pipeline as P
from controllers.router import arp, ofp
from controllers.router.mapping import COMMIT
from testbed.appliances.hyperplane.sharding import BUCKETS, bucket_owner

ADDRESS_PRIORITY = 200                     # ROUTE_TABLE: above every route (100 + prefix length)
PORTED_PRIORITY, PORTLESS_PRIORITY = 20, 10  # HYPERPLANE: tcp/udp by port, then other protocols by address
PROTOCOLS = {'tcp': 6, 'udp': 17}
L4 = {6: 'tcp', 17: 'udp'}
MASK = BUCKETS - 1                         # sharding.bucket_of: the low bits of the port, or of the address


def _listeners(r):
    """[(protocol number, port, target_port, [target names])] of an NLB (an endpoint: its service's NLB)."""
    return [(PROTOCOLS[protocol or 'tcp'], port, target_port, list(targets))
            for protocol, port, target_port, targets in r.get('listeners') or ()]


def _low_bits(b):
    """An address's low bits as a masked match (ipv4_src or ipv4_dst)."""
    return str(ipaddress.IPv4Address(b)), str(ipaddress.IPv4Address(MASK))


class Hyperplane:
    """The controller configuration's `hyperplane` part ({nodes: {name: underlay ip}, failed: [names],
    resources: [dict(kind, id, name, vni, ips, listeners, shard)]}), and which nodes have failed.
    ips: instance name -> address, to find an NLB's targets."""

    def __init__(self, config=None, ips=None, failed=None):
        config = config or {}
        self.config, self.ips = config, ips or {}
        self.nodes = dict(config.get('nodes') or {})
        self.resources = list(config.get('resources') or ())
        self.failed = frozenset(config.get('failed') or () if failed is None else failed)

    def with_failed(self, names):
        unknown = sorted(set(names) - set(self.nodes))
        if unknown:
            raise LookupError(f'no Hyperplane node {unknown[0]!r}; nodes are: {", ".join(self.nodes) or "(none)"}')
        return Hyperplane(self.config, self.ips, names)

    def live(self, r):
        return [n for n in r['shard'] if n in self.nodes and n not in self.failed]

    def _key(self, r, reverse=False):
        return (self.resources.index(r) + 1) << 1 | reverse

    def _cookie(self, r):
        return P.cookie(P.KIND_HYPERPLANE, self.resources.index(r) + 1)

    def nat(self, vni, name):
        return next((r for r in self.resources if r['kind'] == 'nat' and r['vni'] == vni and r['name'] == name), None)

    # ---- ROUTE_TABLE ------------------------------------------------------------------------
    def route(self, subnet, priority, match, target):
        """The route table's flow for a route to `nat:<name>`, or None: no such NAT gateway here."""
        r = self.nat(subnet['vni'], target.partition(':')[2]) if target.startswith('nat:') else None
        if r is None:
            return None
        return self._to_stage(r, priority, match)

    def _to_stage(self, r, priority, match, reverse=False):
        return ofp.flow(P.ROUTE_TABLE, priority, match, [ofp.set_field(**{P.REG_HYPERPLANE: self._key(r, reverse)})],
                        goto=P.HYPERPLANE, cookie=self._cookie(r))

    def addresses(self):
        """ROUTE_TABLE flows above the routes (NLBs' and endpoints' addresses, NLB targets' replies) and
        the ARP answers for those addresses (the VPC router's MAC)."""
        out = []
        for r in self.resources:
            if r['kind'] == 'nlb':
                for protocol, port, target_port, targets in _listeners(r):
                    l4 = L4[protocol]
                    for ip in r['ips']:
                        out.append(self._to_stage(r, ADDRESS_PRIORITY + 1, ofp.match(
                            metadata=r['vni'], eth_type=ofp.IP, ip_proto=protocol, ipv4_dst=ip, **{f'{l4}_dst': port})))
                    for target in targets:
                        if target in self.ips:
                            out.append(self._to_stage(r, ADDRESS_PRIORITY, ofp.match(
                                metadata=r['vni'], eth_type=ofp.IP, ip_proto=protocol, ipv4_src=self.ips[target],
                                **{f'{l4}_src': target_port}), reverse=True))
            elif r['kind'] == 'endpoint':         # its service's listeners, at the endpoint's own address
                out += [self._to_stage(r, ADDRESS_PRIORITY + 1, ofp.match(metadata=r['vni'], eth_type=ofp.IP,
                                                                          ip_proto=protocol, ipv4_dst=ip,
                                                                          **{f'{L4[protocol]}_dst': port}))
                        for protocol, port, _, _ in _listeners(r) for ip in r['ips']]
            if r['kind'] in ('nlb', 'endpoint'):
                out += [arp.responder(r['vni'], ip, P.ROUTER_MAC, self._cookie(r)) for ip in r['ips']]
        return out

    # ---- HYPERPLANE -----------------------------------------------------------------------------
    def buckets(self):
        """Every bucket's flow of every resource (NLBs: both directions), for the live nodes now; sent
        again when nodes fail or come back (an add with the same match replaces the flow)."""
        out = []
        for r in self.resources:
            out += self._buckets(r, 'src')
            if r['kind'] == 'nlb':
                out += self._buckets(r, 'dst', reverse=True)
        return out

    def _buckets(self, r, side, reverse=False):
        live, key = self.live(r), self._key(r, reverse)
        out = []
        for b in range(BUCKETS):
            node = bucket_owner(r['id'], b, live)
            matches = [(PORTED_PRIORITY, {'ip_proto': protocol, f'{l4}_{side}': (b, MASK)})
                       for protocol, l4 in L4.items()] + [(PORTLESS_PRIORITY, {f'ipv4_{side}': _low_bits(b)})]
            out += [self._to_node(r, priority, ofp.match(eth_type=ofp.IP, **{P.REG_HYPERPLANE: key}, **fields), node)
                    for priority, fields in matches]
        return out

    def _to_node(self, r, priority, match, node):
        if node is None:
            return ofp.drop(P.HYPERPLANE, priority, match, 'no-live-node')
        return ofp.flow(P.HYPERPLANE, priority, match,
                        [ofp.set_field(tunnel_id=r['vni']), ofp.set_field(tun_ipv4_dst=self.nodes[node]), COMMIT,
                         ofp.output(P.TUNNEL_PORT)], cookie=self._cookie(r))

    def flows(self):
        """Everything a host starts with (ROUTE_TABLE's nat: routes come with their subnet)."""
        return self.addresses() + self.buckets() + [ofp.drop(P.HYPERPLANE, 0, ofp.match(), 'no-live-node')]

    def describe(self):
        return dict(nodes=self.nodes, failed=sorted(self.failed),
                    resources=[dict(kind=r['kind'], id=r['id'], name=r['name'], shard=r['shard'], live=self.live(r))
                               for r in self.resources])
