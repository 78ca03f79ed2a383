"""An offline DNS for domain verification: the network edge, and nothing more, is faked.

``offline`` is the real ``check_dns`` reading TXT (and A) records from ``ZONE``, which tests
fill with ``publish``. Every test app uses it (``MERCATO_DOMAIN_VERIFIER`` in
``tests.conftest.make_settings``), so no test asks the real DNS.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import dns.exception
import dns.resolver
from fastapi.testclient import TestClient

from mercato.tenancy.verification import DomainProof, check_dns, dns_name


class FakeResolver:
    """Answers from a dict ``(name, type) -> values``; NXDOMAIN otherwise, or a timeout for
    names in ``slow``."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.slow: set[str] = set()
        self.asked: list[tuple[str, str]] = []

    def add(self, name: str, rdtype: str, value: str) -> None:
        self.records.setdefault((name, rdtype), []).append(value)

    def resolve(self, qname: str, rdtype: str, *, lifetime: float) -> Iterable[Any]:
        self.asked.append((qname, rdtype))
        if qname in self.slow:
            raise dns.exception.Timeout(timeout=lifetime)
        values = self.records.get((qname, rdtype))
        if values is None:
            raise dns.resolver.NXDOMAIN()
        if rdtype == "TXT":
            return [SimpleNamespace(strings=(v.encode(),)) for v in values]
        return [SimpleNamespace(address=v) for v in values]


ZONE = FakeResolver()


def publish(domain: str, token: str) -> None:
    """What the domain's owner does: the TXT record the claim asked for."""
    ZONE.add(dns_name(domain), "TXT", token)


def offline(domain: str, token: str) -> DomainProof:
    return check_dns(domain, token, resolver=ZONE)


def verified_domain(client: TestClient, org: Any, domain: str) -> dict[str, Any]:
    """Claim ``domain`` for ``org``, publish its proof and verify it, as an owner would."""
    claimed = client.post("/api/v1/organization/domains", headers=org.headers,
                          json={"domain": domain})
    assert claimed.status_code == 201, claimed.text
    publish(domain, claimed.json()["verification"]["dns"]["value"])
    verified = client.post(f"/api/v1/organization/domains/{claimed.json()['id']}/verify",
                           headers=org.headers)
    assert verified.status_code == 200, verified.text
    body: dict[str, Any] = verified.json()
    return body
