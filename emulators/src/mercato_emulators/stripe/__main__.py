"""``python -m mercato_emulators.stripe [--host] [--port] [--webhook-url] [--webhook-secret]``:
serve the Stripe emulator on its own (tests start it in-process instead)."""

from __future__ import annotations

import argparse

import uvicorn

from mercato_emulators.stripe.server import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mercato_emulators.stripe",
                                     description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-secret", default=None)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.webhook_url, args.webhook_secret), host=args.host,
                port=args.port, lifespan="off")


if __name__ == "__main__":
    main()
