import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.ingest import anonymize_ip


@pytest.mark.parametrize(
    ("given_ip", "stored"),
    [
        ("203.0.113.77", "203.0.113.0"),
        (" 198.51.100.255 ", "198.51.100.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("::ffff:192.0.2.128", "192.0.2.0"),
        ("not an ip", None),
        ("", None),
    ],
)
def test_anonymize_ip(given_ip: str, stored: str | None) -> None:
    assert anonymize_ip(given_ip) == stored


@given(st.ip_addresses(v=4))
def test_ipv4_keeps_only_the_first_three_octets(address: object) -> None:
    text = str(address)
    result = anonymize_ip(text)
    assert result is not None
    assert result.split(".")[:3] == text.split(".")[:3]
    assert result.endswith(".0")


@given(st.ip_addresses(v=6))
def test_ipv6_never_keeps_the_interface_part(address: object) -> None:
    import ipaddress

    result = anonymize_ip(str(address))
    assert result is not None
    parsed = ipaddress.ip_address(result)
    if parsed.version == 6:
        assert int(parsed) & ((1 << 80) - 1) == 0
    else:  # an IPv4-mapped address is treated as IPv4
        assert int(parsed) & 0xFF == 0
