"""Organizations: create, look up by slug or host, manage custom domains."""

from __future__ import annotations

import ipaddress
import re
import secrets
import time
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from babel.numbers import is_currency
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.core.db import (
    Database,
    add_unique,
    require_owned,
    set_tenant,
    system_scope,
    table_of,
    utcnow,
)
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.ids import new_id
from mercato.tenancy.models import Organization, OrganizationDomain
from mercato.tenancy.verification import DomainProof, dns_name, http_path

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
RESERVED_SLUGS = frozenset({"api", "admin", "store", "static", "webhooks", "health", "ready",
                            "metrics", "www"})


def validate_slug(slug: str) -> str:
    if not SLUG.match(slug) or slug in RESERVED_SLUGS:
        raise ValidationFailed(
            "Invalid organization slug.",
            errors=[{"field": "slug", "message": "lowercase letters, digits and hyphens, "
                     "1-63 characters, not a reserved word"}],
        )
    return slug


def normalize_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if _is_ip_literal(value):
        raise ValidationFailed("Invalid domain.", errors=[{
            "field": "domain", "message": "an IP address can never be a custom domain"}])
    if not DOMAIN.match(value):
        raise ValidationFailed("Invalid domain.",
                               errors=[{"field": "domain", "message": "not a host name"}])
    return value


def _is_ip_literal(host: str) -> bool:
    """An IP address in any spelling a browser accepts: ``127.0.0.1``, ``[::1]``, and names
    whose last label is a number (``127.1``, ``0x7f.1``), which URL parsers read as IPv4."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1]
    return bool(last) and (last.isdigit() or bool(re.fullmatch(r"0x[0-9a-f]*", last)))


def never_claimable(host: str, platform_hosts: Collection[str]) -> str | None:
    """Why ``host`` (lowercase, without port) can never be a store's custom domain, or None."""
    if _is_ip_literal(host):
        return "an IP address can never be a custom domain"
    if host == "localhost" or host.endswith(".localhost"):
        return "localhost can never be a custom domain"
    if "." not in host:
        return "a single-label name can never be a custom domain"
    if host in platform_hosts:
        return "this is one of the platform's own hosts"
    return None


def claimable_domain(domain: str, platform_hosts: Collection[str]) -> str:
    """The normalized name, or a 422 saying why it is no host name or can never be claimed."""
    value = domain.strip().lower().rstrip(".")
    if not _is_ip_literal(value) and not LABEL.fullmatch(value):
        value = normalize_domain(value)
    reason = never_claimable(value, platform_hosts)
    if reason is not None:
        raise ValidationFailed(f"{value!r} cannot be claimed as a custom domain.",
                               errors=[{"field": "domain", "message": reason}])
    return value


def create_organization(session: Session, *, name: str, slug: str) -> Organization:
    """A new organization; the session is scoped to it from here on (its first rows follow)."""
    validate_slug(slug)
    if not name.strip():
        raise ValidationFailed("Name is required.",
                               errors=[{"field": "name", "message": "must not be empty"}])
    org = Organization(id=new_id(), name=name.strip(), slug=slug)
    set_tenant(session, org.id)
    add_unique(session, org, field="slug", detail=f"The slug {slug!r} is taken.")
    return org


def get_by_slug(session: Session, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def get_organization(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("Organization not found.")
    return org


# -- settings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrgSettings:
    """What an organization's pages and reports follow: its days, formats and money."""

    time_zone: str
    """IANA name (``America/New_York``); a day is midnight to midnight there."""
    locale: str
    """CLDR locale identifier (``en``, ``fr_CA``)."""
    currency: str
    """ISO 4217 code of the default currency."""
    logo_url: str | None = None
    """The storefront's logo (an https URL or ``/media/<organization>/<name>``), or None."""
    brand_color: str | None = None
    """``#rrggbb`` of the storefront's header, or None."""
    accent_color: str | None = None
    """``#rrggbb`` of the storefront's primary buttons, or None."""


LOCALE_LENGTH = 35  # organizations.locale


NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
"""Files of the time zone database that are no place's zone (``localtime`` is the host's)."""


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - NOT_ZONES


def _settings_errors(*, time_zone: str | None, locale: str | None,
                     currency: str | None) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(the values as stored, the errors of those that are not valid)."""
    clean: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    if time_zone is not None:
        if time_zone.strip() in _zones():
            clean["time_zone"] = time_zone.strip()
        else:
            errors.append({"field": "time_zone",
                           "message": f"{time_zone!r} is not an IANA time zone such as "
                                      "'Europe/Paris' or 'UTC'"})
    if locale is not None:
        try:
            parsed = str(Locale.parse(locale.strip().replace("-", "_")))
        except (ValueError, TypeError, UnknownLocaleError):
            parsed = ""
        if 0 < len(parsed) <= LOCALE_LENGTH:
            clean["locale"] = parsed
        else:
            errors.append({"field": "locale",
                           "message": f"{locale!r} is not a known locale such as 'en' or "
                                      "'fr_CA'"})
    if currency is not None:
        code = currency.strip().upper()
        if len(code) == 3 and is_currency(code):
            clean["currency"] = code
        else:
            errors.append({"field": "currency",
                           "message": f"{currency!r} is not an ISO 4217 currency code such "
                                      "as 'USD'"})
    return clean, errors


LOGO_LENGTH = 500  # organizations.logo_url
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_MEDIA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_URL_UNSAFE = re.compile(r"[\s\"'<>\\`]")


def _branding_errors(organization_id: str, *, logo_url: str | None, brand_color: str | None,
                     accent_color: str | None) -> tuple[dict[str, str | None],
                                                        list[dict[str, str]]]:
    """(the branding as stored, ``""`` clearing a value to None; the errors). A colour is
    ``#rrggbb``; a logo is an https URL (no credentials in it) or a file of the store's own
    media, ``/media/<organization>/<name>``: nothing a page could be tricked by."""
    clean: dict[str, str | None] = {}
    errors: list[dict[str, str]] = []
    for field, value in (("brand_color", brand_color), ("accent_color", accent_color)):
        if value is None:
            continue
        if not value.strip():
            clean[field] = None
        elif _COLOR.fullmatch(value.strip()):
            clean[field] = value.strip().lower()
        else:
            errors.append({"field": field,
                           "message": f"{value!r} is not a colour written #rrggbb, such as "
                                      "'#1a5fb4'"})
    if logo_url is not None:
        url = logo_url.strip()
        media = f"/media/{organization_id}/"
        if not url:
            clean["logo_url"] = None
        elif len(url) <= LOGO_LENGTH and not _URL_UNSAFE.search(url) and (
                (url.startswith(media) and _MEDIA_NAME.fullmatch(url[len(media):]))
                or _https(url)):
            clean["logo_url"] = url
        else:
            errors.append({"field": "logo_url",
                           "message": "must be an https:// address of an image, or a path "
                                      f"of this store's media ({media}<name>)"})
    return clean, errors


def _https(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is not a number raises
    except ValueError:
        return False
    return (parts.scheme == "https" and bool(parts.hostname) and "@" not in parts.netloc
            and (port is None or 0 < port < 65536))


def update_organization(session: Session, org: Organization, *, name: str | None = None,
                        time_zone: str | None = None, locale: str | None = None,
                        currency: str | None = None, logo_url: str | None = None,
                        brand_color: str | None = None,
                        accent_color: str | None = None) -> Organization:
    """Change what is given (``None`` leaves a value as it is; ``""`` clears a branding
    value); all valid or nothing changes (422 naming each bad field). Locales are stored as
    CLDR writes them (``en-us`` -> ``en_US``), currencies upper case, colours lower case."""
    clean, errors = _settings_errors(time_zone=time_zone, locale=locale, currency=currency)
    branding, branding_errors = _branding_errors(org.id, logo_url=logo_url,
                                                 brand_color=brand_color,
                                                 accent_color=accent_color)
    errors += branding_errors
    if name is not None and not name.strip():
        errors.insert(0, {"field": "name", "message": "must not be empty"})
    if errors:
        raise ValidationFailed("The organization's settings are not valid.", errors=errors)
    if name is not None:
        org.name = name.strip()
    for key, value in clean.items():
        setattr(org, key, value)
    for key, brand in branding.items():
        setattr(org, key, brand)
    session.flush()
    return org


def organization_settings(session: Session, organization_id: str) -> OrgSettings:
    """The organization's time zone, locale and default currency (404 when it does not
    exist)."""
    found = session.connection().execute(_SETTINGS, {"id": organization_id}).first()
    if found is None:
        raise NotFound("Organization not found.")
    return OrgSettings(time_zone=found.time_zone, locale=found.locale, currency=found.currency,
                       logo_url=found.logo_url, brand_color=found.brand_color,
                       accent_color=found.accent_color)


_orgs = table_of(Organization)
_SETTINGS = select(_orgs.c.time_zone, _orgs.c.locale, _orgs.c.currency, _orgs.c.logo_url,
                   _orgs.c.brand_color, _orgs.c.accent_color).where(
    _orgs.c.id == bindparam("id"))
"""Every page reads them: a few columns by primary key, not the whole organization."""


def add_domain(session: Session, organization_id: str, domain: str, *,
               platform_hosts: Collection[str]) -> OrganizationDomain:
    """A pending claim with a token of its own. It routes nothing until verified, so it blocks
    no one: other organizations may claim the same name."""
    name = claimable_domain(domain, platform_hosts)
    row = OrganizationDomain(domain=name, organization_id=organization_id,
                             token=secrets.token_urlsafe(24))
    add_unique(session, row, field="domain",
               detail=f"This organization already claims {name!r}.")
    return row


def list_domains(session: Session) -> list[OrganizationDomain]:
    return list(session.scalars(select(OrganizationDomain).order_by(OrganizationDomain.domain)))


def get_domain(session: Session, domain_id: str) -> OrganizationDomain:
    return require_owned(session, OrganizationDomain, domain_id, "Domain")


def remove_domain(session: Session, domain_id: str) -> OrganizationDomain:
    row = get_domain(session, domain_id)
    session.delete(row)
    return row


@dataclass(frozen=True)
class Claim:
    """A claim as it stood when read: what a verifier is asked to check."""

    id: str
    domain: str
    token: str
    verified: bool
    held_elsewhere: bool


def _holders(session: Session, row: OrganizationDomain) -> list[OrganizationDomain]:
    """Other organizations' verified claims on the row's name (at most one)."""
    with system_scope(session):
        return list(session.scalars(
            select(OrganizationDomain).where(OrganizationDomain.domain == row.domain,
                                             OrganizationDomain.verified_at.is_not(None),
                                             OrganizationDomain.id != row.id)))


def read_claim(db: Database, organization_id: str, domain_id: str) -> Claim:
    """The claim, read in a short transaction of its own: checking it waits on the network,
    and no transaction may stay open meanwhile."""
    with db.session(write=False, tenant=organization_id) as session:
        row = get_domain(session, domain_id)
        return Claim(id=row.id, domain=row.domain, token=row.token,
                     verified=row.verified_at is not None,
                     held_elsewhere=bool(row.verified_at is None and _holders(session, row)))


def _taken(name: str) -> Conflict:
    return Conflict(f"{name!r} is verified by another organization; it routes there until "
                    "that organization removes it.", errors=[{
                        "field": "domain", "message": "verified by another organization"}])


def mark_verified(session: Session, row: OrganizationDomain, *, by: str) -> None:
    """Verify the claim. Other organizations' pending claims on the name stay, but cannot be
    verified while this one holds it; the partial unique index settles two at once."""
    if row.verified_at is not None:
        return
    if _holders(session, row):
        raise _taken(row.domain)
    try:
        with session.begin_nested():
            row.verified_at = utcnow()
            row.verified_by = by
            session.flush()
    except IntegrityError:
        session.refresh(row)
        raise _taken(row.domain) from None


def record_proof(session: Session, domain_id: str, claim: Claim,
                 proof: DomainProof) -> OrganizationDomain:
    """Verify the claim if ``proof`` proves it; otherwise a 409 naming what was checked."""
    row = get_domain(session, domain_id)
    if row.verified_at is not None:
        return row
    if claim.held_elsewhere:
        raise _taken(row.domain)
    if not proof.verified or row.token != claim.token:
        checked = "; ".join(proof.checks) or "nothing was checked"
        raise Conflict(
            f"{row.domain!r} is not verified: publish the TXT record "
            f"{dns_name(row.domain)} = {row.token!r}, or serve the token as the body of "
            f"http(s)://{row.domain}{http_path(row.token)}, then try again. "
            f"Checked: {checked}.",
            extra={"checks": list(proof.checks)})
    mark_verified(session, row, by=proof.method or "verifier")
    return row


def verify_by_operator(session: Session, organization_id: str, domain: str, *,
                       platform_hosts: Collection[str], move: bool = False) -> OrganizationDomain:
    """The operator vouches for the domain (``mercato org domain verify``): claimed if it was
    not, verified without a check. ``move`` takes it from another organization that holds it."""
    name = claimable_domain(domain, platform_hosts)
    row = session.scalar(select(OrganizationDomain).where(OrganizationDomain.domain == name))
    if row is None:
        row = add_domain(session, organization_id, name, platform_hosts=platform_hosts)
    if move:
        holders = _holders(session, row)
        with system_scope(session):  # their rows: written outside this organization's scope
            for holder in holders:
                holder.verified_at = None
                holder.verified_by = None
            session.flush()
    mark_verified(session, row, by="operator")
    return row


def storefront_url(session: Session, *, slug: str, public_url: str | None,
                   via_host: str | None = None) -> str | None:
    """Where a store's storefront is, for the links Mercato mails (its pages follow:
    ``/account/reset-password``): ``https://<domain>`` on a verified custom domain (the
    storefront at its root), else ``MERCATO_PUBLIC_URL/s/<slug>``; None with neither.

    Built from configuration only, never from the request: ``via_host`` (its Host header)
    merely picks among these, so a shopper on one of the store's domains stays there; any
    other host gets the store's first verified domain, then the public URL. The session must
    be scoped to the store's organization."""
    domains = session.scalars(
        select(OrganizationDomain.domain)
        .where(OrganizationDomain.verified_at.is_not(None))
        .order_by(OrganizationDomain.verified_at, OrganizationDomain.id)).all()
    bases = [f"https://{domain}" for domain in domains]
    if public_url:
        bases.append(f"{public_url}/s/{slug}")
    if via_host:
        host = DomainResolver.bare(via_host).strip("[]")
        for base in bases:
            if (urlsplit(base).hostname or "").rstrip(".") == host:
                return base
    return bases[0] if bases else None


class DomainResolver:
    """Host name -> the slug of the store whose verified domain it is, cached briefly so
    storefront requests skip the lookup. The platform's own hosts, IP addresses, localhost and
    single-label names resolve to no store, whatever the table holds."""

    def __init__(self, db: Database, ttl_seconds: float = 30.0,
                 platform_hosts: Collection[str] = ()) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.platform_hosts = frozenset(platform_hosts)
        self._cache: dict[str, tuple[float, str | None]] = {}

    @staticmethod
    def bare(host: str) -> str:
        """A Host header's name: no port, lowercase, no final dot."""
        host = host.lower()
        if host.startswith("["):  # an IPv6 literal, perhaps with a port
            return host.split("]", 1)[0] + "]"
        return host.rsplit(":", 1)[0].rstrip(".")

    def cached(self, host: str) -> tuple[bool, str | None]:
        """(known, slug) from the cache only: lets the middleware skip a thread hop."""
        hit = self._cache.get(self.bare(host))
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def routable(self, host: str) -> bool:
        """Whether ``host`` could be a store's custom domain at all."""
        return never_claimable(self.bare(host), self.platform_hosts) is None

    def slug_for_host(self, host: str) -> str | None:
        known, slug = self.cached(host)
        if known:
            return slug
        host = self.bare(host)
        now = time.monotonic()
        slug = None
        if never_claimable(host, self.platform_hosts) is None:
            with self.db.session(write=False) as session, system_scope(session):
                slug = session.scalar(
                    select(Organization.slug)
                    .join(OrganizationDomain,
                          OrganizationDomain.organization_id == Organization.id)
                    .where(OrganizationDomain.domain == host,
                           OrganizationDomain.verified_at.is_not(None))
                )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[host] = (now, slug)
        return slug

    def forget(self) -> None:
        self._cache.clear()
