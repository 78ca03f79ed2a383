"""What every emulated channel of ``mercato demo`` does once its emulator runs: find or make
the demo shop's location and the channel of the kind, connect it to the emulator, and queue
its first job (a link or an export of the demo's cards)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import structlog

from mercato import inventory
from mercato.catalog import stock_items
from mercato.channels import jobs
from mercato.channels.schemas import ConnectionIn
from mercato.channels.service import connect
from mercato.core.db import Database
from mercato.inventory import ChannelCreate, LocationCreate, channel_of_kind, create_channel
from mercato.settings import Settings

log = structlog.get_logger("mercato.demo")
LOCATION = "demo-shop"


def connect_demo_channel(settings: Settings, organization_id: str, connection: ConnectionIn, *,
                         name: str, first_job: str, skus: Sequence[str] | None = None,
                         location_code: str = LOCATION) -> str:
    """Connect the organization's channel of ``connection.kind`` (made over the location
    ``location_code``, the demo shop's by default, when missing) and queue ``first_job``,
    limited to those of ``skus`` the store has when given; the connection's id."""
    db = Database.from_settings(settings, pool_size=1)
    try:
        with db.transaction(tenant=organization_id) as session:
            session.info["actor_label"] = "demo"
            location = inventory.find_location(session, location_code)
            if location is None:
                location = inventory.create_location(session, LocationCreate(
                    name="Demo shop", code=location_code, pickup=True, public=True))
            channel = channel_of_kind(session, connection.kind)
            if channel is None:
                channel = create_channel(session, ChannelCreate(
                    name=name, kind=connection.kind, locations=[location.id]))
            made, _ = connect(session, channel.id, connection, settings)
            params = {}
            if skus is not None:
                params = {"skus": [i.sku for i in stock_items(session, skus=list(skus))]}
            if skus is None or params["skus"]:
                with contextlib.suppress(jobs.JobInProgress):  # one left from the last start
                    jobs.create_job(session, made, first_job, trigger="demo", params=params)
            log.info(f"demo_{connection.kind}_connected", channel=channel.id,
                     connection=made.id, **params)
            return made.id
    finally:
        db.dispose()
