"""OpenFlow 1.3 plumbing shared by the apps: flow-mods, deletes, packet-outs."""
from controllers import pipeline

ALL = 0xffffffffffffffff


class FlowWriter:
    def __init__(self, dp):
        self.dp = dp
        self.ofp = dp.ofproto
        self.parser = dp.ofproto_parser

    def add(self, table, priority, match, actions=(), goto=None, metadata=None,
            cookie=0, meter=None):
        if goto is not None and goto <= table:
            raise ValueError(f'goto_table only moves forward: {pipeline.stage(table).name} -> table {goto}')
        p, ofp = self.parser, self.ofp
        inst = []
        if meter is not None:
            inst.append(p.OFPInstructionMeter(meter))
        if actions:
            inst.append(p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, list(actions)))
        if metadata is not None:
            inst.append(p.OFPInstructionWriteMetadata(metadata, ALL))
        if goto is not None:
            inst.append(p.OFPInstructionGotoTable(goto))
        self.dp.send_msg(p.OFPFlowMod(datapath=self.dp, cookie=cookie, table_id=table,
                                      priority=priority, match=match, instructions=inst))

    def delete(self, cookie=0, cookie_mask=0, table=None, match=None):
        p, ofp = self.parser, self.ofp
        self.dp.send_msg(p.OFPFlowMod(
            datapath=self.dp, command=ofp.OFPFC_DELETE, cookie=cookie,
            cookie_mask=cookie_mask, table_id=ofp.OFPTT_ALL if table is None else table,
            out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=match or p.OFPMatch()))

    def delete_strict(self, table, priority, match):
        p, ofp = self.parser, self.ofp
        self.dp.send_msg(p.OFPFlowMod(
            datapath=self.dp, command=ofp.OFPFC_DELETE_STRICT, table_id=table, priority=priority,
            out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=match))

    def delete_owner(self, kind, ident):
        self.delete(cookie=pipeline.cookie(kind, ident), cookie_mask=ALL)

    def packet_out(self, data, actions, in_port=None):
        ofp = self.ofp
        self.dp.send_msg(self.parser.OFPPacketOut(
            datapath=self.dp, buffer_id=ofp.OFP_NO_BUFFER,
            in_port=ofp.OFPP_CONTROLLER if in_port is None else in_port,
            actions=list(actions), data=data))

    def barrier(self):
        msg = self.parser.OFPBarrierRequest(self.dp)
        self.dp.send_msg(msg)
        return msg.xid

    def add_meter(self, meter_id, pps, burst):
        p, ofp = self.parser, self.ofp
        self.dp.send_msg(p.OFPMeterMod(
            self.dp, command=ofp.OFPMC_ADD, flags=ofp.OFPMF_PKTPS | ofp.OFPMF_BURST,
            meter_id=meter_id, bands=[p.OFPMeterBandDrop(rate=pps, burst_size=burst)]))

    # ---- actions --------------------------------------------------------------
    def output(self, port, max_len=None):
        return self.parser.OFPActionOutput(port, self.ofp.OFPCML_NO_BUFFER if max_len is None else max_len)

    def to_controller(self):
        return self.output(self.ofp.OFPP_CONTROLLER)

    def set(self, **field):
        return self.parser.OFPActionSetField(**field)

    def arp_reply(self, mac, ip):
        """Turn an ARP request for `ip` into the reply `ip is-at mac`, in the switch."""
        p = self.parser

        def move(src, dst, bits):
            return p.NXActionRegMove(src_field=src, dst_field=dst, n_bits=bits)
        return [move('eth_src', 'eth_dst', 48), self.set(eth_src=mac), self.set(arp_op=2),
                move('arp_sha', 'arp_tha', 48), move('arp_spa', 'arp_tpa', 32),
                self.set(arp_sha=mac), self.set(arp_spa=ip),
                self.output(self.ofp.OFPP_IN_PORT)]

