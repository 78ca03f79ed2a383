"""``python -m mercato_emulators.shopify [--host] [--port] [--shop-domain] ...``: serve the
Shopify emulator on its own (tests and ``mercato demo`` start it in-process instead)."""

from __future__ import annotations

import argparse

import uvicorn

from mercato_emulators.shopify.server import ShopifyEmulator, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mercato_emulators.shopify",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--shop-domain", default="demo-shop.myshopify.com")
    parser.add_argument("--access-token", default="shpat_emulator_token")
    parser.add_argument("--client-secret", default="shpss_emulator_secret")
    args = parser.parse_args(argv)
    emulator = ShopifyEmulator(shop_domain=args.shop_domain, access_token=args.access_token,
                               client_secret=args.client_secret)
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
