"""Hyperplane: the flow-tracking nodes behind NAT gateways, NLBs and PrivateLink (issue 10).

Pure cores, tested without a lab: `sharding` (which nodes serve a resource), `flows` (5-tuples and
port rewrites on packet bytes), `nat` (a NAT gateway's node), `nlb` (listeners, flow-hash targets,
health checks), `privatelink` (interface endpoints).  Membership and port-block claims go through
`testbed.state_store`.  README.md beside this file says how the fabric and controller wire them in.
"""
