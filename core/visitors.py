"""What a request says about its sender, reduced to what proof needs: an IP prefix, a UA family."""

import ipaddress
from functools import lru_cache

import user_agents


def ip_prefix(address: str | None) -> str | None:
    """Truncate an address to its network: IPv4 /24, IPv6 /48 (never the full address)."""
    if not address:
        return None
    return _prefix(address)


@lru_cache(maxsize=4096)
def _prefix(address: str) -> str | None:
    # Parsing and masking cost 5-15 µs; visitors come back, so by address.
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # Masking the integer is several times cheaper than building an ip_network, per request.
    prefix = 24 if ip.version == 4 else 48
    host_bits = ip.max_prefixlen - prefix
    network = type(ip)(int(ip) >> host_bits << host_bits)
    return f"{network}/{prefix}"


# Real user agents stay well under this; the parser's cost grows with the length
# (an 8 KB one took 70-130 ms), so only the start of a longer one is parsed.
MAX_USER_AGENT = 512


def ua_family(user_agent: str) -> str:
    """Return the browser family (``Chrome``, ``Firefox``…) from a user agent's start."""
    return _family(user_agent[:MAX_USER_AGENT])


@lru_cache(maxsize=4096)
def _family(user_agent: str) -> str:
    # Parsing costs ~1.5 ms, so cached, by the cut string.
    if not user_agent:
        return ""
    return user_agents.parse(user_agent).browser.family[:64]
