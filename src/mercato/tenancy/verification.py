"""Proof that whoever claims a custom domain controls it.

A claim has a random token; the owner publishes it as a DNS TXT record at
``_mercato-challenge.<domain>`` or as the body of ``http(s)://<domain>/.well-known/
mercato-challenge/<token>``. ``MERCATO_DOMAIN_VERIFIER`` names the function that looks
(``module:function``, taking the domain and the token and answering a ``DomainProof``); the
default, ``dns_or_http``, asks DNS and then the web server, each with a short timeout. Tests
and offline installs plug in their own.
"""

from __future__ import annotations

import importlib
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import structlog

CHALLENGE_LABEL = "_mercato-challenge"
HTTP_PREFIX = "/.well-known/mercato-challenge/"
TIMEOUT_SECONDS = 3.0
MAX_BODY = 1024
log = structlog.get_logger("mercato.tenancy.verification")


@dataclass(frozen=True)
class DomainProof:
    """What a verifier found: ``verified`` with the ``method`` that proved it, and ``checks``,
    one sentence per place it looked, for the answer when nothing did."""

    verified: bool
    method: str | None = None
    checks: tuple[str, ...] = ()


Verifier = Callable[[str, str], DomainProof]


def dns_name(domain: str) -> str:
    return f"{CHALLENGE_LABEL}.{domain}"


def http_path(token: str) -> str:
    return HTTP_PREFIX + token


def load_verifier(path: str) -> Verifier:
    """``package.module:function`` (or ``package.module.function``) to the function."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attr) if module_name else None
    except (ImportError, AttributeError):
        found = None
    if not callable(found):
        raise ValueError(f"MERCATO_DOMAIN_VERIFIER={path!r} names no function "
                         "(expected module:function)")
    verifier: Verifier = found
    return verifier


class Resolver(Protocol):
    """The part of ``dns.resolver.Resolver`` used here (tests pass their own)."""

    def resolve(self, qname: str, rdtype: str, *, lifetime: float) -> Iterable[Any]: ...


def _resolver() -> Resolver:
    import dns.resolver

    resolver: Resolver = dns.resolver.Resolver()
    return resolver


def check_dns(domain: str, token: str, *, resolver: Resolver | None = None) -> DomainProof:
    """A TXT record at ``_mercato-challenge.<domain>`` whose value is the token."""
    import dns.exception
    import dns.resolver

    name = dns_name(domain)
    try:
        answer = (resolver or _resolver()).resolve(name, "TXT", lifetime=TIMEOUT_SECONDS)
        values = [b"".join(record.strings).decode("utf-8", "replace") for record in answer]
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return DomainProof(False, checks=(f"DNS: no TXT record at {name}",))
    except dns.exception.Timeout:
        return DomainProof(False, checks=(
            f"DNS: no answer for TXT {name} within {TIMEOUT_SECONDS:g} s",))
    except dns.exception.DNSException as exc:
        return DomainProof(False, checks=(f"DNS: looking up TXT {name} failed: {exc}",))
    if token in (value.strip() for value in values):
        return DomainProof(True, "dns", (f"DNS: TXT {name} holds the token",))
    return DomainProof(False, checks=(
        f"DNS: TXT {name} has {len(values)} value(s), none of them this claim's token",))


def _public_addresses(domain: str, resolver: Resolver) -> str | None:
    """Why the HTTP check must not connect (None: every address is public). The check is made
    from inside the platform's network, so it never goes to a private or loopback address."""
    import dns.exception

    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            addresses += [str(r.address) for r in resolver.resolve(domain, rdtype,
                                                                   lifetime=TIMEOUT_SECONDS)]
        except dns.exception.DNSException:
            continue
    if not addresses:
        return f"HTTP: {domain} has no address in DNS"
    private = [a for a in addresses if not ipaddress.ip_address(a).is_global]
    if private:
        return f"HTTP: not checked, {domain} resolves to a non-public address ({private[0]})"
    return None


def check_http(domain: str, token: str, *, resolver: Resolver | None = None,
               transport: httpx.BaseTransport | None = None) -> DomainProof:
    """``https://`` then ``http://<domain>/.well-known/mercato-challenge/<token>`` answering
    200 with exactly the token. Redirects are not followed (another host's answer proves
    nothing), and an error page that merely echoes the path is no proof."""
    import dns.exception

    try:
        refusal = _public_addresses(domain, resolver or _resolver())
    except dns.exception.DNSException as exc:
        refusal = f"HTTP: not checked, no DNS resolver ({exc})"
    if refusal is not None:
        return DomainProof(False, checks=(refusal,))
    checks = []
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, transport=transport,
                      headers={"User-Agent": "Mercato domain verification"}) as client:
        for scheme in ("https", "http"):
            url = f"{scheme}://{domain}{http_path(token)}"
            try:
                with client.stream("GET", url) as response:
                    body = b""
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_BODY:
                            break
            except httpx.TimeoutException:
                checks.append(f"HTTP: {url} did not answer within {TIMEOUT_SECONDS:g} s")
                continue
            except httpx.HTTPError as exc:
                checks.append(f"HTTP: {url} could not be fetched ({type(exc).__name__})")
                continue
            if response.status_code == 200 and body.strip() == token.encode():
                return DomainProof(True, "http", (*checks, f"HTTP: {url} answers the token"))
            checks.append(f"HTTP: {url} answered {response.status_code} without the token")
    return DomainProof(False, checks=tuple(checks))


def dns_or_http(domain: str, token: str) -> DomainProof:
    """The default verifier: the DNS record, else the HTTP token."""
    by_dns = check_dns(domain, token)
    if by_dns.verified:
        return by_dns
    by_http = check_http(domain, token)
    if by_http.verified:
        return by_http
    return DomainProof(False, checks=by_dns.checks + by_http.checks)


def run_verifier(verifier: Verifier, domain: str, token: str) -> DomainProof:
    """The verifier's answer; one that raises or answers nonsense has verified nothing."""
    try:
        proof = verifier(domain, token)
    except Exception as exc:
        log.warning("domain_verifier_failed", domain=domain, error=repr(exc)[:300])
        return DomainProof(False, checks=(f"the check failed: {type(exc).__name__}: {exc}",))
    if not isinstance(proof, DomainProof):
        return DomainProof(False, checks=("the verifier answered no DomainProof",))
    return proof
