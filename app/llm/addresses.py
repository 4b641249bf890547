"""Which addresses a model's base URL may reach, so the registry cannot point the server's key-bearing
requests at itself, its private network or a cloud metadata service.

Link-local and metadata addresses are refused always; private and loopback ones only when the
operator opts in (a model served on the same machine or network, e.g. Ollama on localhost).
Host names are resolved and every address they resolve to is checked: a name that resolves to one
refused address is refused, whatever else it resolves to.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
# Cloud metadata services and link-local networks: credentials of the machine itself live there.
ALWAYS_REFUSED_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16",  # link-local IPv4: AWS, GCP, Azure, OpenStack metadata at 169.254.169.254
    "fe80::/10",  # link-local IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "fd00:ec2::254/128",  # AWS metadata over IPv6
    "0.0.0.0/8", "::/128",  # "this host": connecting there reaches the server itself
    "224.0.0.0/4", "ff00::/8",  # multicast
    "240.0.0.0/4", "255.255.255.255/32",  # reserved, broadcast
))
ALWAYS_REFUSED_HOST_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.internal",
    "instance-data", "instance-data.ec2.internal",
})
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128",  # loopback
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",  # private
    "100.64.0.0/10",  # carrier-grade NAT, used as a private network by Tailscale and some clouds
))
# IPv6 forms that carry an IPv4 address a packet may end up at.
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")


class RefusedAddress(Exception):
    """The base URL may not be used; the message says why, for an admin (it names the host)."""


def refusal_for_address(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why this address may not be reached, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in NAT64_NETWORK:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in network for network in ALWAYS_REFUSED_NETWORKS):
        return f"{address} is a link-local, metadata or reserved address, which is never allowed"
    if not allow_private and any(address in network for network in PRIVATE_NETWORKS):
        return (f"{address} is a private or loopback address; set STUDIO_ALLOW_PRIVATE_MODEL_HOSTS=1 to allow "
                "models on this machine or network")
    return None


def refusal_for_host_name(host: str, *, allow_private: bool) -> str | None:
    """Why a host name may not be used before any lookup (metadata and localhost names), or None."""
    name = host.rstrip(".").lower()
    if name in ALWAYS_REFUSED_HOST_NAMES:
        return f"{host} is a cloud metadata service, which is never allowed"
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        return f"{host} is this machine; set STUDIO_ALLOW_PRIVATE_MODEL_HOSTS=1 to allow models on it"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (one for an IP literal)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # The scope of a link-local IPv6 address ("fe80::1%eth0") is not part of the address.
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]


def checked_addresses(host: str, port: int, *, allow_private: bool,
                      resolver: Callable[[str, int], list[IPAddress]] = resolve) -> list[IPAddress]:
    """The addresses of `host`, each one allowed; raises RefusedAddress otherwise (or when it does not resolve)."""
    reason = refusal_for_host_name(host, allow_private=allow_private)
    if reason:
        raise RefusedAddress(reason)
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError):
        raise RefusedAddress(f"{host} could not be resolved from this server") from None
    if not addresses:
        raise RefusedAddress(f"{host} could not be resolved from this server")
    for address in addresses:
        reason = refusal_for_address(address, allow_private=allow_private)
        if reason:
            raise RefusedAddress(f"{host} resolves to {reason}" if str(address) != host.strip("[]") else reason)
    return addresses


def check_url(url: str, *, allow_private: bool,
              resolver: Callable[[str, int], list[IPAddress]] = resolve) -> None:
    """Raise RefusedAddress unless `url` is http(s) and its host resolves only to allowed addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedAddress("the base URL is not a valid address") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise RefusedAddress("the base URL must start with http:// or https://")
    if not parts.hostname:
        raise RefusedAddress("the base URL has no host")
    default_port = 443 if parts.scheme.lower() == "https" else 80
    checked_addresses(parts.hostname, port or default_port, allow_private=allow_private, resolver=resolver)
