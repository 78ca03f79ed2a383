"""``python -m mercato_emulators.ebay [--host] [--port] [--client-id] ...``: serve the eBay
emulator on its own (tests and ``mercato demo`` start it in-process instead)."""

from __future__ import annotations

import argparse

import uvicorn

from mercato_emulators.ebay.server import EbayEmulator, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mercato_emulators.ebay",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--client-id", default="Mercato-Demo-PRD-0123456789")
    parser.add_argument("--client-secret", default="PRD-emulator-client-secret")
    parser.add_argument("--refresh-token", default="v^1.1#i^1#emulator-refresh-token")
    parser.add_argument("--verification-token", default=None)
    parser.add_argument("--revision-limit", type=int, default=250)
    args = parser.parse_args(argv)
    emulator = EbayEmulator(client_id=args.client_id, client_secret=args.client_secret,
                            refresh_token=args.refresh_token,
                            verification_token=args.verification_token,
                            revision_limit=args.revision_limit)
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
