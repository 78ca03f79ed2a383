"""``python -m mercato_emulators.tiktok [--host] [--port] [--app-key] ...``: serve the TikTok
Shop emulator on its own (tests and ``mercato demo`` start it in-process instead)."""

from __future__ import annotations

import argparse

import uvicorn

from mercato_emulators.tiktok.server import TiktokEmulator, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mercato_emulators.tiktok",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8007)
    parser.add_argument("--app-key", default="6a1b2c3d4e5f6")
    parser.add_argument("--app-secret", default="emulator-app-secret-0000")
    parser.add_argument("--access-token", default="TTP_emulator-access-token")
    parser.add_argument("--refresh-token", default="TTP_emulator-refresh-token")
    parser.add_argument("--shop-cipher", default="ROW_EmulatedCardShop")
    parser.add_argument("--shop-id", default="7494105515082810525")
    parser.add_argument("--rate-per-second", type=float, default=50.0)
    parser.add_argument("--token-lifetime", type=int, default=7 * 86_400)
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args(argv)
    emulator = TiktokEmulator(app_key=args.app_key, app_secret=args.app_secret,
                              access_token=args.access_token, refresh_token=args.refresh_token,
                              shop_cipher=args.shop_cipher, shop_id=args.shop_id,
                              rate_per_second=args.rate_per_second,
                              token_lifetime=args.token_lifetime, webhook_url=args.webhook_url)
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
