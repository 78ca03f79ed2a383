"""``python -m mercato_emulators.shopee [--host] [--port] [--partner-id] ...``: serve the Shopee
emulator on its own (tests and ``mercato demo`` start it in-process instead)."""

from __future__ import annotations

import argparse

import uvicorn

from mercato_emulators.shopee.server import ShopeeEmulator, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mercato_emulators.shopee",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8006)
    parser.add_argument("--partner-id", default="2001887")
    parser.add_argument("--partner-key", default="shpk-emulator-partner-key-0000")
    parser.add_argument("--shop-id", default="322300222")
    parser.add_argument("--access-token", default="emulator-access-token-0000")
    parser.add_argument("--refresh-token", default="emulator-refresh-token-0000")
    parser.add_argument("--rate-per-second", type=float, default=None)
    parser.add_argument("--callback-url", default=None)
    args = parser.parse_args(argv)
    emulator = ShopeeEmulator(partner_id=args.partner_id, partner_key=args.partner_key,
                              shop_id=args.shop_id, access_token=args.access_token,
                              refresh_token=args.refresh_token,
                              rate_per_second=args.rate_per_second,
                              callback_url=args.callback_url)
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
