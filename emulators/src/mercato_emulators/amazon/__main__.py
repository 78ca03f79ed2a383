"""``python -m mercato_emulators.amazon [--host] [--port] [--client-id] ...``: serve the Amazon
SP-API emulator on its own (tests and ``mercato demo`` start it in-process instead)."""

from __future__ import annotations

import argparse

import uvicorn

from mercato_emulators.amazon.server import AmazonEmulator, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mercato_emulators.amazon",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8005)
    parser.add_argument("--client-id", default="amzn1.application-oa2-client.emulator")
    parser.add_argument("--client-secret", default="amzn1.oa2-cs.v1.emulator-secret")
    parser.add_argument("--refresh-token", default="Atzr|emulator-refresh-token")
    parser.add_argument("--seller-id", default="A2EMULATORSELLER")
    parser.add_argument("--token-lifetime", type=int, default=3600)
    parser.add_argument("--feed-delay", type=float, default=5.0)
    args = parser.parse_args(argv)
    emulator = AmazonEmulator(client_id=args.client_id, client_secret=args.client_secret,
                              refresh_token=args.refresh_token, seller_id=args.seller_id,
                              token_lifetime=args.token_lifetime, feed_delay=args.feed_delay)
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
