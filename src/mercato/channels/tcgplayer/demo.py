"""The demo's TCGplayer store: the emulator on its own port, its catalog holding the demo
store's singles (``demo_store.SINGLES`` of every game, and the PSA slab's card), and a
connected ``tcgplayer`` channel that links them, pushes their stock, and pulls
orders and market prices on a schedule.

The emulator keeps its state in memory, so it is seeded again at every start, with a fresh
store authorization code that the connection is given (the first job exchanges it). Sell on
"TCGplayer" with ``curl -X POST {url}/_emulator/orders -d '{"items": [{"skuId": N,
"quantity": 1}]}'`` (the SKU ids are listed at ``GET {url}/_emulator/products``).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from mercato.channels.demo_kit import connect_demo_channel
from mercato.channels.schemas import ConnectionIn, ConnectionSettings, TcgplayerCredentials
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.settings import Settings

PUBLIC_KEY = "tcg-demo-public-key-0000"  # the emulator's, not a real application's
PRIVATE_KEY = "tcg-demo-private-key-0000"
STORE_KEY = "demo-card-shop"
CATEGORIES = ((2, "YuGiOh", "Yu-Gi-Oh!"), (71, "Lorcana TCG", "Disney Lorcana"))
"""Games the emulator's own catalog lacks (it has Magic and Pokémon)."""
SETS = (  # category, set name, abbreviation, [(card, number, rarity, market price)]
    (1, "Dominaria United", "DMU", [("Sheoldred, the Apocalypse", "107", "Mythic", "72.00")]),
    (1, "Modern Horizons 2", "MH2", [("Ragavan, Nimble Pilferer", "138", "Mythic",
                                      "48.00")]),
    (1, "Unlimited Edition", "2ED", [("Black Lotus", "233", "Rare", "14999.00")]),
    (3, "SWSH07: Evolving Skies", "EVS", [("Umbreon VMAX (Alternate Art Secret)", "215/203",
                                           "Secret Rare", "1099.00")]),
    (2, "Legend of Blue Eyes White Dragon", "LOB", [("Blue-Eyes White Dragon", "001",
                                                     "Ultra Rare", "119.00")]),
    (71, "The First Chapter", "TFC", [("Elsa - Spirit of Winter", "42", "Legendary",
                                       "32.00")]),
)
"""Cards added to the emulator's own catalog (which already has Alpha's Lightning Bolt and
Base Set's Charizard and Pikachu), so that every demo single links."""
SCHEDULES = {"order_pull": 300, "price_pull": 3600}


def load_tcgplayer_emulator() -> ModuleType:
    """``mercato_emulators.tcgplayer``; ``EmulatorsMissing`` when not installed."""
    return load_emulator("tcgplayer", "the demo's TCGplayer store")


def start_emulator(host: str, port: int) -> tuple[Any, str]:
    """A ``TcgplayerEmulator`` (the demo's cards added, 10 requests a second) served on a
    daemon thread, and its URL."""
    tcgplayer = load_tcgplayer_emulator()
    emulator = tcgplayer.TcgplayerEmulator(public_key=PUBLIC_KEY, private_key=PRIVATE_KEY,
                                           store_key=STORE_KEY, rate_per_second=10.0)
    for category, name, display in CATEGORIES:
        emulator.add_category(category, name, display)
    for category, name, abbreviation, cards in SETS:
        group = emulator.add_group(category, name, abbreviation)
        for card, number, rarity, market in cards:
            emulator.add_product(group, card, number, rarity, market=market)
    return emulator, serve_on_thread(tcgplayer.create_app(emulator), host, port,
                                     "tcgplayer-emulator")


def seed(settings: Settings, organization_id: str, host: str, port: int,
         location_code: str = "demo-shop") -> str:
    """Start the emulator and connect the organization's ``tcgplayer`` channel to it (made
    over ``location_code`` when missing), then queue the link job; the emulator's URL."""
    emulator, url = start_emulator(host, port)
    connect_demo_channel(settings, organization_id, ConnectionIn(
        kind="tcgplayer", account=STORE_KEY, api_base=url,
        credentials=TcgplayerCredentials(public_key=PUBLIC_KEY, private_key=PRIVATE_KEY,
                                         authorization_code=emulator.new_code()),
        settings=ConnectionSettings(schedules=SCHEDULES)),
        name="TCGplayer (emulated)", first_job="product_import", location_code=location_code)
    return url
