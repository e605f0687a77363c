"""DESTINATION and DELIVER, step 8: which local ENI the packet is for (REG_DST_ENI, REG_SUBNET,
its MAC), and, once its subnet's ACL and its security groups agreed, out to its port."""
from controllers import pipeline as P
from controllers.router import flow_log, ofp


def base():
    return [ofp.drop(table, 0, ofp.match(), 'no-local-destination') for table in (P.DESTINATION, P.DELIVER)]


def plug(e, port, subnet, vnis):
    """`vnis`: e's VPC and its peers (a peer's packets arrive with the sender's VNI).  Two peers of the
    sender may share e's address, so a peer's packet must also be for e's MAC (set at MAPPING)."""
    owner = P.cookie(P.KIND_LOCAL, e.ident)
    tags = [ofp.set_field(**{P.REG_DST_ENI: e.ident}), ofp.set_field(**{P.REG_SUBNET: subnet['index']}),
            ofp.set_field(eth_dst=e.mac)]
    out = [ofp.flow(P.DESTINATION, 100, ofp.match(metadata=vni, eth_type=ofp.IP, ipv4_dst=e.ip,
                                                  **({} if vni == e.vni else dict(eth_dst=e.mac))), tags,
                    goto=P.INGRESS_NACL, cookie=owner) for vni in sorted(vnis)]
    accept = flow_log.log(P.LOG_ACCEPT, eni=e.ident) if subnet['flow_logs'] else []
    out.append(ofp.flow(P.DELIVER, 100, ofp.match(eth_type=ofp.IP, **{P.REG_DST_ENI: e.ident}),
                        accept + [ofp.output(port)], cookie=owner))
    return out
