"""IP anonymisation: applied before an address is written anywhere (events, the audit log)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

__all__ = ["anonymize_ip"]


@lru_cache(maxsize=4096)
def anonymize_ip(value: str) -> str | None:
    """Zero the host part: IPv4 to /24, IPv6 to /48 (as analytics vendors commonly do).

    Returns None for text that is not an IP address, which is then not stored at all.
    """
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
