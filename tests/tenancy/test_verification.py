"""The default domain verifier: DNS TXT record, else HTTP token; only DNS and the web are faked
(an offline resolver, httpx's MockTransport)."""

from __future__ import annotations

import httpx
import pytest

from mercato.tenancy import verification
from mercato.tenancy.verification import DomainProof, check_dns, check_http, run_verifier
from tests.tenancy.verifiers import FakeResolver

DOMAIN = "cards.example.com"
TOKEN = "tok-3q2-7wHk"
PATH = f"/.well-known/mercato-challenge/{TOKEN}"


def zone(*, txt: list[str] | None = None, address: str | None = "93.184.215.14") -> FakeResolver:
    resolver = FakeResolver()
    for value in txt or []:
        resolver.add(f"_mercato-challenge.{DOMAIN}", "TXT", value)
    if address:
        resolver.add(DOMAIN, "A", address)
    return resolver


def web(answers: dict[str, httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[str]]:
    """A web server answering by URL (404 elsewhere), and the URLs it was asked for."""
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        asked.append(url)
        answer = answers.get(url, httpx.Response(404, text=f"No resource at {request.url.path}"))
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), asked


def test_dns_proof_is_the_token_in_a_txt_record_at_the_challenge_name() -> None:
    proof = check_dns(DOMAIN, TOKEN, resolver=zone(txt=["v=spf1 -all", TOKEN]))
    assert proof == DomainProof(True, "dns", (
        f"DNS: TXT _mercato-challenge.{DOMAIN} holds the token",))
    other = check_dns(DOMAIN, TOKEN, resolver=zone(txt=["someone-else"]))
    assert not other.verified
    assert other.checks == (f"DNS: TXT _mercato-challenge.{DOMAIN} has 1 value(s), none of "
                            "them this claim's token",)
    assert check_dns(DOMAIN, TOKEN, resolver=zone()).checks == (
        f"DNS: no TXT record at _mercato-challenge.{DOMAIN}",)


def test_a_dns_timeout_is_not_verified_and_says_so() -> None:
    resolver = zone(txt=[TOKEN])
    resolver.slow.add(f"_mercato-challenge.{DOMAIN}")
    proof = check_dns(DOMAIN, TOKEN, resolver=resolver)
    assert not proof.verified
    assert proof.checks == (f"DNS: no answer for TXT _mercato-challenge.{DOMAIN} within 3 s",)


def test_http_proof_is_exactly_the_token_with_200() -> None:
    transport, asked = web({f"http://{DOMAIN}{PATH}": httpx.Response(200, text=TOKEN + "\n")})
    proof = check_http(DOMAIN, TOKEN, resolver=zone(), transport=transport)
    assert proof == DomainProof(True, "http", (f"HTTP: https://{DOMAIN}{PATH} answered 404 "
                                              "without the token",
                                              f"HTTP: http://{DOMAIN}{PATH} answers the token"))
    assert asked == [f"https://{DOMAIN}{PATH}", f"http://{DOMAIN}{PATH}"]


def test_an_error_page_that_echoes_the_path_proves_nothing() -> None:
    """The token is in the URL, so any page quoting the URL contains it: only an exact body
    with 200 counts (a domain pointed at the platform answers a 404 naming the path)."""
    transport, _ = web({})
    proof = check_http(DOMAIN, TOKEN, resolver=zone(), transport=transport)
    assert not proof.verified
    assert proof.checks == (f"HTTP: https://{DOMAIN}{PATH} answered 404 without the token",
                            f"HTTP: http://{DOMAIN}{PATH} answered 404 without the token")
    quoted, _ = web({f"http://{DOMAIN}{PATH}": httpx.Response(200, text=f"<p>{TOKEN}</p>")})
    assert not check_http(DOMAIN, TOKEN, resolver=zone(), transport=quoted).verified


def test_redirects_are_not_followed() -> None:
    transport, asked = web({
        f"https://{DOMAIN}{PATH}": httpx.Response(
            302, headers={"Location": f"https://attacker.example.net{PATH}"}),
        f"https://attacker.example.net{PATH}": httpx.Response(200, text=TOKEN),
    })
    proof = check_http(DOMAIN, TOKEN, resolver=zone(), transport=transport)
    assert not proof.verified
    assert f"https://attacker.example.net{PATH}" not in asked


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"])
def test_http_check_never_connects_to_a_private_address(address: str) -> None:
    resolver = FakeResolver()
    resolver.add(DOMAIN, "AAAA" if ":" in address else "A", address)
    transport, asked = web({f"http://{DOMAIN}{PATH}": httpx.Response(200, text=TOKEN)})
    proof = check_http(DOMAIN, TOKEN, resolver=resolver, transport=transport)
    assert not proof.verified
    assert asked == []
    assert proof.checks == (f"HTTP: not checked, {DOMAIN} resolves to a non-public address "
                            f"({address})",)


def test_http_timeouts_and_connection_errors_are_not_verified() -> None:
    transport, _ = web({
        f"https://{DOMAIN}{PATH}": httpx.ConnectTimeout("slow"),
        f"http://{DOMAIN}{PATH}": httpx.ConnectError("refused"),
    })
    proof = check_http(DOMAIN, TOKEN, resolver=zone(), transport=transport)
    assert proof == DomainProof(False, checks=(
        f"HTTP: https://{DOMAIN}{PATH} did not answer within 3 s",
        f"HTTP: http://{DOMAIN}{PATH} could not be fetched (ConnectError)"))


def test_the_default_verifier_tries_dns_then_http_and_reports_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resolver = zone()
    transport, _ = web({})
    monkeypatch.setattr(verification, "_resolver", lambda: resolver)
    real_client = httpx.Client
    monkeypatch.setattr(verification.httpx, "Client",
                        lambda **kw: real_client(**{**kw, "transport": transport}))
    proof = verification.dns_or_http(DOMAIN, TOKEN)
    assert not proof.verified
    assert [check.split(":")[0] for check in proof.checks] == ["DNS", "HTTP", "HTTP"]
    resolver.add(f"_mercato-challenge.{DOMAIN}", "TXT", TOKEN)
    assert verification.dns_or_http(DOMAIN, TOKEN).method == "dns"


def test_a_verifier_that_raises_or_answers_nonsense_has_verified_nothing() -> None:
    def raises(domain: str, token: str) -> DomainProof:
        raise TimeoutError("gave up")

    assert run_verifier(raises, DOMAIN, TOKEN) == DomainProof(
        False, checks=("the check failed: TimeoutError: gave up",))
    assert not run_verifier(lambda d, t: True, DOMAIN, TOKEN).verified  # type: ignore[arg-type,return-value]
