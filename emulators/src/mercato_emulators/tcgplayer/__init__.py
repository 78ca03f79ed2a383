"""An emulator of TCGplayer's API: OAuth client credentials, store authorization codes, the
catalog, prices, a seller's store inventory and orders (see ``server``)."""

from mercato_emulators.tcgplayer.model import TcgplayerEmulator
from mercato_emulators.tcgplayer.server import create_app

__all__ = ["TcgplayerEmulator", "create_app"]
