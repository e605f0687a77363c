"""The per-host virtual router as pure code: one module per stage, in the journey's order

    classify (anti-spoofing) -> arp -> security_groups -> network_acl -> route_table
    -> mapping (+ encapsulation) -> check (the receiving side) -> deliver -> flow_log

each returning the OpenFlow messages (ofp.py) for a plug, an unplug or a cache change, and the
packet-in decisions of its stage; rules.py holds the rule matching the firewall stages share.
virtual_router.VirtualRouter keeps one host's state and puts the stages together; the os-ken
app (controllers/apps/router_app.py) only translates events and sends.
"""
