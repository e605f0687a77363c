"""DHCP answered by the virtual router: what answer() builds parses as DHCP (scapy checks the
headers and checksums), with the ENI's address and the VPC's options, and nothing for the rest."""
import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from controllers.router import dhcp

MAC = "0e:12:34:56:78:9a"
LEASE = dhcp.lease_for(MAC, "10.0.1.10", "10.0.1.0/24", "10.0.0.0/16", "ec2.internal")


def request(kind, mac=MAC, src="0.0.0.0", dst="255.255.255.255", ciaddr="0.0.0.0", flags=0, **options):
    opts = [("message-type", kind)] + list(options.items()) + ["end"]
    return bytes(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src=src, dst=dst) / UDP(sport=68, dport=67)
                 / BOOTP(chaddr=bytes.fromhex(mac.replace(":", "")), xid=0x1234abcd, ciaddr=ciaddr, flags=flags)
                 / DHCP(options=opts))


def reply(frame):
    raw = dhcp.answer(frame, LEASE)
    assert raw is not None
    pkt = Ether(raw)
    for layer in (IP, UDP):           # checksums as built equal scapy's own
        got = pkt[layer].chksum
        del pkt[layer].chksum
        assert Ether(bytes(pkt))[layer].chksum == got
    return pkt, {o[0]: o[1] for o in pkt[DHCP].options if isinstance(o, tuple)}


def test_lease_for():
    assert LEASE == dhcp.Lease(MAC, "10.0.1.10", 24, "10.0.1.1", "10.0.0.2", "ec2.internal", 9001, 3600,
                               "0e:00:00:00:00:01")


def test_discover_gets_an_offer_of_the_enis_address():
    pkt, opts = reply(request("discover"))
    assert pkt[Ether].src == "0e:00:00:00:00:01" and pkt[Ether].dst == MAC
    assert (pkt[IP].src, pkt[IP].dst, pkt[UDP].sport, pkt[UDP].dport) == ("10.0.1.1", "10.0.1.10", 67, 68)
    assert pkt[BOOTP].op == 2 and pkt[BOOTP].xid == 0x1234abcd and pkt[BOOTP].yiaddr == "10.0.1.10"
    assert pkt[BOOTP].chaddr[:6] == bytes.fromhex(MAC.replace(":", "")) and len(pkt[BOOTP]) >= 300
    assert opts["message-type"] == 2 and opts["server_id"] == "10.0.1.1"
    assert opts["subnet_mask"] == "255.255.255.0" and opts["broadcast_address"] == "10.0.1.255"
    assert opts["router"] == "10.0.1.1" and opts["name_server"] == "10.0.0.2"
    assert opts["domain"] == b"ec2.internal" and opts["interface-mtu"] == 9001
    assert (opts["lease_time"], opts["renewal_time"], opts["rebinding_time"]) == (3600, 1800, 3150)


def test_broadcast_flag_is_honoured():
    pkt, _ = reply(request("discover", flags=0x8000))
    assert (pkt[Ether].dst, pkt[IP].dst) == ("ff:ff:ff:ff:ff:ff", "255.255.255.255")


def test_request_for_the_enis_address_is_acked():
    pkt, opts = reply(request("request", requested_addr="10.0.1.10", server_id="10.0.1.1"))
    assert opts["message-type"] == 5 and pkt[BOOTP].yiaddr == "10.0.1.10"
    pkt, opts = reply(request("request", requested_addr="10.0.1.10"))              # INIT-REBOOT
    assert opts["message-type"] == 5
    pkt, opts = reply(request("request", src="10.0.1.10", dst="10.0.1.1", ciaddr="10.0.1.10"))   # RENEWING
    assert opts["message-type"] == 5 and pkt[IP].dst == "10.0.1.10" and pkt[BOOTP].ciaddr == "10.0.1.10"


def test_request_for_another_address_is_nakked():
    for frame in (request("request", requested_addr="10.0.1.99", server_id="10.0.1.1"),
                  request("request", requested_addr="192.168.1.5"),
                  request("request", src="10.0.1.99", dst="10.0.1.1", ciaddr="10.0.1.99")):
        pkt, opts = reply(frame)
        assert opts["message-type"] == 6 and pkt[BOOTP].yiaddr == "0.0.0.0"
        assert (pkt[Ether].dst, pkt[IP].dst) == ("ff:ff:ff:ff:ff:ff", "255.255.255.255")
        assert "lease_time" not in opts and "router" not in opts


def test_inform_gets_the_options_without_an_address():
    pkt, opts = reply(request("inform", src="10.0.1.10", ciaddr="10.0.1.10"))
    assert opts["message-type"] == 5 and pkt[BOOTP].yiaddr == "0.0.0.0" and pkt[IP].dst == "10.0.1.10"
    assert opts["name_server"] == "10.0.0.2" and "lease_time" not in opts


@pytest.mark.parametrize("frame", [
    request("request", requested_addr="10.0.1.10", server_id="10.9.9.9"),        # another server's offer
    request("release", src="10.0.1.10", ciaddr="10.0.1.10"),
    request("decline", requested_addr="10.0.1.10"),
    request("inform", src="10.0.1.99", ciaddr="10.0.1.99"),
    request("discover", mac="0e:00:00:00:00:99"),                                 # another ENI's MAC
    bytes(Ether(src=MAC) / IP() / UDP(sport=68, dport=67) / b"short"),
    bytes(Ether(src=MAC) / IP() / UDP(sport=1068, dport=67) / BOOTP(chaddr=bytes.fromhex(MAC.replace(":", "")))
          / DHCP(options=[("message-type", "discover"), "end"])),
    bytes(Ether(src=MAC) / IP(flags="MF") / UDP(sport=68, dport=67) / BOOTP() / DHCP(options=["end"])),
    b"", b"\x00" * 13, b"\xff" * 400,
])
def test_no_answer(frame):
    assert dhcp.answer(frame, LEASE) is None


def test_chaddr_must_be_the_frames_source():
    frame = bytearray(request("discover"))
    frame[6:12] = bytes.fromhex("0e0000000099")
    assert dhcp.answer(bytes(frame), LEASE) is None


def test_malformed_options_are_refused():
    frame = request("discover")
    at = frame.index(dhcp.MAGIC) + 4
    assert frame[at:at + 3] == b"\x35\x01\x01"
    assert dhcp.parse(frame) is not None
    too_long = frame[:at + 1] + b"\xff" + frame[at + 2:]   # message type claims 255 bytes
    assert dhcp.parse(too_long) is None


def test_checksum():
    assert dhcp.checksum(b"\x45\x00\x00\x1c") == (~(0x4500 + 0x001c)) & 0xFFFF
    assert dhcp.checksum(b"\x01") == (~0x0100) & 0xFFFF
