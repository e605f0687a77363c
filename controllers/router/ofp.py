"""OpenFlow 1.3 messages as pure objects (no datapath), as Faucet's valve builds them: the stage
modules return these, and the os-ken app stamps its datapath on each and sends it."""
import struct

from controllers import pipeline
from controllers.compat import nicira_ext, ofproto_v1_3, ofproto_v1_3_parser

ofp, parser = ofproto_v1_3, ofproto_v1_3_parser
ALL = 0xffffffffffffffff
IP, ARP_TYPE = 0x0800, 0x0806
NO_VLAN = ofproto_v1_3.OFPVID_NONE                                     # vlan_vid: no 802.1Q tag
ANY_VLAN = (ofproto_v1_3.OFPVID_PRESENT, ofproto_v1_3.OFPVID_PRESENT)   # vlan_vid: any tag
ZONE_BITS = nicira_ext.ofs_nbits(0, 15)
NX_IN_PORT = 0xfff8            # resubmit's 16-bit port field: keep the packet's in_port


def match(**fields):
    return parser.OFPMatch(**fields)


def flow(table, priority, match, actions=(), goto=None, metadata=None, cookie=0, meter=None, hard_timeout=0):
    """An add flow-mod.  goto_table only moves forward (OpenFlow refuses the rest), so a flow that
    would jump back is a bug in the caller: it fails here, where it is built."""
    if goto is not None and goto <= table:
        raise ValueError(f'goto_table only moves forward: {pipeline.stage(table).name} (table {table}) '
                         f'-> table {goto}')
    inst = []
    if meter is not None:
        inst.append(parser.OFPInstructionMeter(meter))
    if actions:
        inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, list(actions)))
    if metadata is not None:
        inst.append(parser.OFPInstructionWriteMetadata(metadata, ALL))
    if goto is not None:
        inst.append(parser.OFPInstructionGotoTable(goto))
    return parser.OFPFlowMod(datapath=None, cookie=cookie, table_id=table, priority=priority,
                             match=match, instructions=inst, hard_timeout=hard_timeout)


def drop(table, priority, match, reason, actions=(), meter=None, hard_timeout=0):
    """A flow that ends the packet's journey; its cookie says why (counted per reason)."""
    return flow(table, priority, match, actions, cookie=pipeline.drop_cookie(reason), meter=meter,
                hard_timeout=hard_timeout)


def delete(cookie=0, cookie_mask=0, table=None, match=None):
    return parser.OFPFlowMod(
        datapath=None, command=ofp.OFPFC_DELETE, cookie=cookie, cookie_mask=cookie_mask,
        table_id=ofp.OFPTT_ALL if table is None else table, out_port=ofp.OFPP_ANY,
        out_group=ofp.OFPG_ANY, match=match or parser.OFPMatch())


def delete_strict(table, priority, match):
    return parser.OFPFlowMod(datapath=None, command=ofp.OFPFC_DELETE_STRICT, table_id=table,
                             priority=priority, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=match)


def delete_owner(kind, ident):
    return delete(cookie=pipeline.cookie(kind, ident), cookie_mask=ALL)


def packet_out(data, actions, in_port=None):
    return parser.OFPPacketOut(datapath=None, buffer_id=ofp.OFP_NO_BUFFER,
                               in_port=ofp.OFPP_CONTROLLER if in_port is None else in_port,
                               actions=list(actions), data=data)


def resubmit(data, in_port, *actions):
    """Send a packet the controller held back through the pipeline again (after the flows that
    decide it are in place: the switch handles messages in order)."""
    return packet_out(data, [*actions, output(ofp.OFPP_TABLE)], in_port=in_port)


def meter(meter_id, pps, burst):
    """Add a meter.  The switch refuses to add one that exists (OFPMMFC_METER_EXISTS): the router adds
    each once per connection, after `delete_meters`."""
    return parser.OFPMeterMod(None, command=ofp.OFPMC_ADD, flags=ofp.OFPMF_PKTPS | ofp.OFPMF_BURST,
                              meter_id=meter_id, bands=[parser.OFPMeterBandDrop(rate=pps, burst_size=burst)])


def delete_meters(meter_id=ofp.OFPM_ALL):
    """Meter `meter_id` goes, by default every meter of the switch (with the flows that use them)."""
    return parser.OFPMeterMod(None, command=ofp.OFPMC_DELETE, flags=0, meter_id=meter_id, bands=[])


def switch_config(flags):
    return parser.OFPSetConfig(None, flags, ofp.OFPCML_NO_BUFFER)


# ---- actions -----------------------------------------------------------------------------------
def output(port, max_len=None):
    return parser.OFPActionOutput(port, ofp.OFPCML_NO_BUFFER if max_len is None else max_len)


def to_controller(max_len=None, meter=None):
    """To the controller; with `meter`, only the packet-in is metered (OVS's controller(meter_id=N)),
    not the packet's other actions, as a meter instruction would."""
    if meter is None:
        return output(ofp.OFPP_CONTROLLER, max_len)
    return parser.NXActionController2(max_len=ofp.OFPCML_NO_BUFFER if max_len is None else max_len, meter_id=meter)


NXAC2PT_METER_ID = 5     # OVS's controller2 property: a u32 meter id


def _register_meter_id():
    """os-ken's NXActionController2 knows no meter_id property: without it, it cannot build the
    action, and it misreads every flow statistics reply that holds one.  Its property registry is
    local to the function that generates the parser, reachable through the action's closure."""
    body = parser.NXActionController2.serialize_body
    registry = dict(zip(body.__code__.co_freevars, body.__closure__))['NXActionController2Prop'].cell_contents
    if 'meter_id' in registry._NAMES:
        return

    @registry.register_type(NXAC2PT_METER_ID)
    class MeterId(registry):
        _arg_name = 'meter_id'

        @classmethod
        def parser_prop(cls, buf, length):
            return struct.unpack_from('!I', buf, 0)[0], 4

        @classmethod
        def serialize_prop(cls, meter_id):
            return bytearray(struct.pack('!HHI', NXAC2PT_METER_ID, 8, meter_id))


_register_meter_id()


def set_field(**field):
    return parser.OFPActionSetField(**field)


def move(src, dst, bits):
    return parser.NXActionRegMove(src_field=src, dst_field=dst, n_bits=bits)


def ct(zone_reg, table=None, commit=False):
    """conntrack in the zone held by `zone_reg`; with `table`, the tracked packet continues there."""
    return parser.NXActionCT(
        flags=nicira_ext.NX_CT_F_COMMIT if commit else 0, zone_src=zone_reg, zone_ofs_nbits=ZONE_BITS,
        alg=0, actions=[], recirc_table=nicira_ext.NX_CT_RECIRC_NONE if table is None else table)


def conjunction(ident, clause, n_clauses):
    """One clause (counted from 0, as on the wire; ovs-ofctl shows it from 1) of conjunctive match `ident`."""
    return parser.NXActionConjunction(clause, n_clauses, ident)


def resubmit_table(table):
    return parser.NXActionResubmitTable(in_port=NX_IN_PORT, table_id=table)
