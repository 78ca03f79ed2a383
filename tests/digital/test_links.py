"""Signed download links, as a property: a link Mercato made opens until it expires, and any
change to it, anywhere, is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.core.db import Database, utcnow
from mercato.core.errors import MercatoError
from mercato.digital.service import LinkExpired, LinkInvalid, check_link, sign_link
from tests.conftest import Org

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seconds=st.integers(min_value=1, max_value=10**8), position=st.integers(min_value=0),
       char=st.sampled_from(ALPHABET))
def test_a_link_opens_until_it_expires_and_any_change_is_refused(
        app: FastAPI, db: Database, org: Org, seconds: int, position: int, char: str) -> None:
    """(``app`` registers the process's secret key for the database.)"""
    now = utcnow().replace(microsecond=0)
    with db.session(tenant=org.id) as session:
        token = sign_link(session, org.id, "01DELIVERY", "01FILE",
                          now + dt.timedelta(seconds=seconds))
        target = check_link(session, org.id, token, now=now)
        assert (target.delivery_id, target.file_id) == ("01DELIVERY", "01FILE")
        with pytest.raises(LinkExpired):
            check_link(session, org.id, token, now=now + dt.timedelta(seconds=seconds))
        at = position % len(token)
        changed = token[:at] + char + token[at + 1:]
        if changed != token:
            with pytest.raises(LinkInvalid):
                check_link(session, org.id, changed, now=now)
        with pytest.raises(MercatoError):  # another organization's link: not found there
            check_link(session, "01OTHERORGANIZATION0000000", token, now=now)
