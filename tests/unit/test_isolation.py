"""Journeys of the isolation fixes (issue 14 items 2-4), through the fake switch: VLAN-tagged
frames, fragments under a network ACL, peered traffic routed by the route table, conntrack
commits after the last drop, metered packet-ins and the negative cache of reactive misses."""
from test_journeys import PORT, World, tcp

# ---- item 4: VLAN-tagged frames, fragments and the network ACL ---------------------------------


def test_a_vlan_tagged_frame_from_an_instance_is_unsupported_even_from_its_own_addresses():
    w = World()
    assert w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80)).verdict == 'tunnel to 100.127.0.3, VNI 100'
    tagged = w.send('web-1', vlan_vid=0x1000 | 7, ipv4_dst='10.0.1.11', **tcp(80))
    assert tagged.verdict == 'dropped: unsupported-protocol at CLASSIFY' and not tagged.packet_ins
    assert w.send('web-1', vlan_vid=0x1000, arp_op=1, arp_tpa='10.0.1.1').verdict == \
        'dropped: unsupported-protocol at CLASSIFY'


def test_a_tagged_frame_from_the_tunnel_is_dropped_before_the_check():
    w = World()
    j = w.send('web-1', ipv4_dst='10.0.1.11', **tcp(80))
    _, there = w.receive(j, 'h1', vlan_vid=0x1000 | 7)
    assert there.verdict == 'dropped: unsupported-protocol at CHECK' and not there.packet_ins


def test_an_acl_deny_on_one_port_leaves_the_later_fragments_of_other_ports_alone():
    """subnet-b's ACL denies tcp 22 from subnet-a (rule 100) and allows the rest (rule 200)."""
    w = World()
    later_fragment = dict(ipv4_dst='10.0.2.20', ip_proto=6, ip_frag=3)
    assert w.send('web-1', ipv4_dst='10.0.2.20', **tcp(22)).verdict == 'dropped: network-acl at INGRESS_NACL'
    j = w.send('web-1', **later_fragment)
    assert 'INGRESS_NACL' in j.stages and j.verdict == f'out port {PORT["db-1"]}'
    first_fragment = dict(tcp(5432), ip_frag=1)
    assert w.send('web-1', ipv4_dst='10.0.2.20', **first_fragment).verdict == f'out port {PORT["db-1"]}'
    assert w.send('web-1', ipv4_dst='10.0.2.20', **dict(tcp(22), ip_frag=1)).verdict == \
        'dropped: network-acl at INGRESS_NACL'


def test_later_fragments_still_need_a_security_group_rule_of_their_protocol():
    w = World()
    assert w.send('web-1', ipv4_dst='10.0.2.20', ip_proto=17, ip_frag=3).verdict == \
        'dropped: security-group at INGRESS_SG_RULES'
