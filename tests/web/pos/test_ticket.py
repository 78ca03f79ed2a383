"""The sale in progress lives in a signed cookie: it must fit one (browsers drop a cookie past
4 KB without a word, which would lose the sale), and a full sale says so."""

from __future__ import annotations

import secrets

from mercato.web.pos.ticket import MAX_TICKET_LINES, Ticket, TicketLine, ticket_fits


def test_a_full_sale_of_usual_skus_fits_its_cookie() -> None:
    ticket = Ticket(lines=[TicketLine(f"MTG-DMU-{n:04d}-NM-FOIL", 4)
                           for n in range(MAX_TICKET_LINES)])
    assert ticket_fits(ticket)


def test_a_sale_of_long_random_skus_is_found_too_big_before_its_cookie_is_lost() -> None:
    ticket = Ticket(lines=[TicketLine(secrets.token_hex(50), 1)
                           for _ in range(MAX_TICKET_LINES)])
    assert not ticket_fits(ticket)
