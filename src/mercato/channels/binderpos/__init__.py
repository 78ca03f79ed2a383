"""BinderPOS: no public API; it runs on a Shopify store whose products and condition variants
are Shopify variants. A ``binderpos`` connection is that Shopify store as the system of record
(the Shopify connector does the work); its CSV layout is a catalog import/export format."""

from __future__ import annotations

from mercato.channels.registry import register
from mercato.channels.shopify.sync import JOBS, push

register("binderpos", jobs=JOBS, push=push)
