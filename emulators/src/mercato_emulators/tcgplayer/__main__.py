"""``python -m mercato_emulators.tcgplayer [--host] [--port] [--store-key] ...``: serve the
TCGplayer emulator on its own (tests and ``mercato demo`` start it in-process instead). A
fresh store authorization code is printed at start."""

from __future__ import annotations

import argparse

import uvicorn

from mercato_emulators.tcgplayer.model import TcgplayerEmulator
from mercato_emulators.tcgplayer.server import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mercato_emulators.tcgplayer",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument("--store-key", default="demo-store")
    parser.add_argument("--public-key", default="tcg-emulator-public-key")
    parser.add_argument("--private-key", default="tcg-emulator-private-key")
    parser.add_argument("--rate", type=float, default=10.0,
                        help="requests per second before 429 (0: no limit)")
    args = parser.parse_args(argv)
    emulator = TcgplayerEmulator(public_key=args.public_key, private_key=args.private_key,
                                 store_key=args.store_key, rate_per_second=args.rate or None)
    print(f"store authorization code: {emulator.new_code()}")
    uvicorn.run(create_app(emulator), host=args.host, port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
