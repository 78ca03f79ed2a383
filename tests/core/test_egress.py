"""Outbound calls never reach internal addresses unless the operator allows the host."""

from __future__ import annotations

import pytest

from mercato.core.egress import EgressRefused, check_url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/", "http://[::1]/",
    "http://169.254.169.254/latest/meta-data", "http://192.168.0.10/", "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/", "http://172.16.0.1/", "http://100.64.0.1/",
])
def test_internal_targets_are_refused(url: str) -> None:
    with pytest.raises(EgressRefused) as err:
        check_url(url)
    assert err.value.status == 422
    assert err.value.errors[0]["field"] == "url"


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///x", "not a url",
                                 "http://user:pw@example.com/", "http://example.com:99999/"])
def test_malformed_targets_are_refused(url: str) -> None:
    with pytest.raises(EgressRefused):
        check_url(url)


def test_a_public_address_passes() -> None:
    assert check_url("https://93.184.215.14/hooks") == "https://93.184.215.14/hooks"


def test_an_allowed_host_passes_although_internal() -> None:
    assert check_url("http://127.0.0.1:8123/in", ["127.0.0.1"])
    assert check_url("http://localhost:8123/in", ["LOCALHOST"])
    with pytest.raises(EgressRefused):
        check_url("http://127.0.0.2/in", ["127.0.0.1"])
