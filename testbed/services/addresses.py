"""The addresses of the VPC services, shared by the pipeline (which rewrites to them) and the
per-host service process (which answers on them).  Standard library only, so that the controller
may import it as well as the lab.

Every service is answered on the instance's own physical host, in a service namespace reached from
the host's bridge.  VPCs' CIDRs overlap, so the instance's own address cannot tell the service who
asked: the pipeline rewrites the source of a service request, statelessly, to an address unique to
the ENI on the machine, `eni_address(ident)`, and back on the way out.  The ENI's ident is its
16-bit pipeline number (its conntrack zone, 1..65535), so the block is a /16:

    ident = 256 * X + Y   <->   100.126.X.Y      (100.126.0.1 .. 100.126.255.255)

100.126.0.0/16 is next to the lab's underlay (100.127.0.0/16) in the shared address space of
RFC 6598, which no lab's internet or service network uses.  A VPC may not use it
(`check_no_collision`): the service namespace routes the whole block back to the bridge.
"""
from __future__ import annotations

import ipaddress

ENI_BLOCK = ipaddress.IPv4Network("100.126.0.0/16")
MAX_IDENT = 2 ** 16 - 1
METADATA_IP = "169.254.169.254"       # instance metadata, TCP 80
DNS_IP = "169.254.169.253"            # the Amazon DNS server's link-local address, UDP/TCP 53
METADATA_PORT = 80
DNS_PORT = 53
US_EAST_1 = "us-east-1"


class AddressError(ValueError):
    """An ident or address outside the scheme, or a VPC CIDR that collides with it."""


def eni_address(ident: int) -> str:
    """The address the service namespace sees for the ENI with this pipeline ident."""
    if not isinstance(ident, int) or not 1 <= ident <= MAX_IDENT:
        raise AddressError(f"ENI ident {ident!r} is not in 1..{MAX_IDENT}")
    return str(ENI_BLOCK.network_address + ident)


def eni_ident(address: str) -> int | None:
    """The ident of the ENI behind a service-side source address; None if it is not one."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return None
    if ip not in ENI_BLOCK or ip == ENI_BLOCK.network_address:
        return None
    return int(ip) - int(ENI_BLOCK.network_address)


def dns_server_ip(vpc_cidr: str) -> str:
    """The Amazon DNS server inside a VPC: its base address + 2."""
    return str(ipaddress.IPv4Network(vpc_cidr).network_address + 2)


def domain_name(region: str) -> str:
    """The domain of instances' private names (and DHCP option 15), as AWS names them."""
    return "ec2.internal" if region == US_EAST_1 else f"{region}.compute.internal"


def private_hostname(ip: str, region: str) -> str:
    """ip-10-0-1-10.ec2.internal: the private DNS name of an instance's address."""
    return f"ip-{ip.replace('.', '-')}.{domain_name(region)}"


def check_no_collision(cidrs) -> None:
    """Refuse VPC CIDRs that overlap the ENI block: their addresses could not be told from ENIs'."""
    for cidr in cidrs:
        if ipaddress.IPv4Network(cidr).overlaps(ENI_BLOCK):
            raise AddressError(f"VPC CIDR {cidr} overlaps {ENI_BLOCK}, the block of the VPC services' "
                               f"ENI addresses; choose another CIDR")


def service_addresses(vpc_cidrs) -> tuple[str, ...]:
    """Every address the service namespace answers DNS on: 169.254.169.253 and each VPC's base + 2
    (once: overlapping VPCs share it; the asking ENI tells the VPC apart)."""
    seen = dict.fromkeys([DNS_IP] + [dns_server_ip(c) for c in vpc_cidrs])
    return tuple(seen)
