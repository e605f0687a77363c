"""PrivateLink on one Hyperplane node: an interface endpoint in the consumer's subnet that leads to the
provider's NLB, whatever the two VPCs' CIDRs.

The consumer sends to the endpoint's address (its own subnet's) and a listener port.  The node
translates both ends, as AWS does: the source becomes the NLB's private address (in the provider's
VPC) with a port from this endpoint's port blocks (the NAT gateway's scheme, `nat.NatNode`, so
ports are unique across the endpoint's shard), and the destination becomes a target chosen by the
provider's NLB (`nlb.Nlb`).  So the provider's targets see the NLB's private address as the source
(AWS's PrivateLink without proxy protocol), and reply to it; the consumer sees only the endpoint's
address.  Neither side ever sees an address of the other VPC, so overlapping CIDRs (even the same
address on both sides) work: `to_provider`'s packets belong in the provider's VPC, `to_consumer`'s
in the consumer's, and the wiring encapsulates them with that VPC's VNI.

Only the endpoint service's owner and its `allowed_accounts` may have an endpoint
(`EndpointService.allows`): any other account's is refused when it is made (`NotAllowed`).
"""
from testbed.appliances.blackfoot import translate
from testbed.appliances.hyperplane.flows import Drop, Forward, Reply, flow_of
from testbed.appliances.hyperplane.nat import NatNode
from testbed.appliances.packets import parse_ipv4


class NotAllowed(Exception):
    pass


class InterfaceEndpoint:
    def __init__(self, endpoint_id, address, account, service, nlb, nlb_address, store, node, clock, port_filter=None):
        if not service.allows(account):
            raise NotAllowed(f'account {account!r} may not connect to endpoint service {service.id} '
                             f'(allowed: {", ".join((service.account,) + tuple(service.allowed_accounts))})')
        self.id, self.address, self.nlb, self.nlb_address = endpoint_id, address, nlb, nlb_address
        # port_filter: the provider's replies reach the node whose bucket a port is in (the wiring's)
        self.nat = NatNode(endpoint_id, node, nlb_address, store, clock, port_filter=port_filter)
        self.counters = self.nat.counters

    def to_provider(self, packet):
        """A consumer's packet to the endpoint: into the provider's VPC, to a target (or a Reply/Drop)."""
        ip = parse_ipv4(packet)
        if ip is None or ip.dst != self.address:
            return Drop('not-this-endpoint')
        buf = bytearray(packet[:ip.total_length])
        if flow_of(buf) is None or flow_of(buf).quote is not None:
            return Drop('not-a-flow')
        translate(buf, 'dst', self.nlb_address)
        verdict = self.nat.translate_out(bytes(buf))
        if isinstance(verdict, Reply):               # an RST: it must come from the endpoint's address
            rst = bytearray(verdict.packet)
            translate(rst, 'src', self.address)
            return Reply(bytes(rst))
        if not isinstance(verdict, Forward):
            return verdict
        return self.nlb.forward(verdict.packet)

    def to_consumer(self, packet):
        """A target's reply to the NLB's address: into the consumer's VPC, from the endpoint."""
        verdict = self.nlb.reverse(packet)
        if isinstance(verdict, Forward):
            verdict = self.nat.translate_in(verdict.packet)
        if not isinstance(verdict, Forward):
            return verdict
        buf = bytearray(verdict.packet)
        translate(buf, 'src', self.address)
        return Forward(bytes(buf))
