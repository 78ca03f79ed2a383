"""The built-in trading-card product types, installable per organization."""

from __future__ import annotations

from typing import Any

GAMES = ["magic", "pokemon", "yugioh", "lorcana", "onepiece", "fab", "digimon",
         "sports", "other"]
CONDITIONS = ["NM", "LP", "MP", "HP", "DMG"]
"""The condition codes Mercato reads from a file's text; a card's condition is data, though
(``CONDITION``): a store may grade "EX" or "Mint", and an import keeps what it cannot read."""
FINISHES = ["nonfoil", "foil", "etched", "reverse-holo", "holo", "gilded", "textured",
            "surge-foil"]
LANGUAGES = ["EN", "JA", "DE", "FR", "IT", "ES", "PT", "KO", "ZH-CN", "ZH-TW", "RU"]
RARITIES = ["common", "uncommon", "rare", "mythic", "super-rare", "legendary", "enchanted",
            "epic", "iconic", "holo-rare", "secret-rare", "promo", "special"]
"""Rarities a store commonly sees, offered as examples (a filter's choices): not a limit."""
FACET = "x-facet"
"""A property without a closed list that is still offered as a facet and a filter (its
``examples`` are the usual values)."""
RARITY = {"type": "string", "minLength": 1, "maxLength": 60, "examples": RARITIES,
          FACET: True}
"""A rarity is data, not a closed list: each game names its own (Lorcana's ``enchanted``,
Pokémon's ``illustration-rare``). Imports store it as a slug (``csvio.rarity_slug``)."""
CONDITION = {"type": "string", "minLength": 1, "maxLength": 100, "examples": CONDITIONS,
             FACET: True}
TCGPLAYER_ID = {"type": "string", "pattern": "^[0-9]{1,12}$"}
"""A variant's TCGplayer product-condition id, when its SKU does not say it (``TCG-<id>``)."""
GRADERS = ["PSA", "BGS", "CGC", "SGC", "TAG", "other"]

_card: dict[str, Any] = {
    "game": {"type": "string", "enum": GAMES},
    "set_code": {"type": "string", "minLength": 1, "maxLength": 16},
    "set_name": {"type": "string", "minLength": 1, "maxLength": 200},
    "collector_number": {"type": "string", "minLength": 1, "maxLength": 20},
    "rarity": RARITY,
}

TYPE_SETS: dict[str, list[dict[str, Any]]] = {
    "tcg": [
        {
            "slug": "tcg-single",
            "name": "Trading card (single)",
            "serialized": False,
            "attributes_schema": {
                "type": "object", "properties": _card,
                "required": ["game", "collector_number"],
                "anyOf": [{"required": ["set_code"]}, {"required": ["set_name"]}],
                "additionalProperties": True,
            },
            "variant_attributes_schema": {
                "type": "object",
                "properties": {
                    "condition": CONDITION,
                    "finish": {"type": "string", "enum": FINISHES},
                    "language": {"type": "string", "enum": LANGUAGES},
                    "tcgplayer_id": TCGPLAYER_ID,
                },
                "required": ["condition", "finish", "language"],
                "additionalProperties": False,
            },
        },
        {
            "slug": "tcg-graded",
            "name": "Graded card (one of a kind)",
            "serialized": True,
            "attributes_schema": {
                "type": "object",
                "properties": {
                    **_card,
                    "grading_company": {"type": "string", "enum": GRADERS},
                    "grade": {"type": "string", "pattern": r"^(10|[1-9](\.5)?)( [A-Za-z ]+)?$"},
                    "certificate_number": {"type": "string", "minLength": 4, "maxLength": 32},
                },
                "required": ["game", "collector_number", "grading_company", "grade",
                             "certificate_number"],
                "anyOf": [{"required": ["set_code"]}, {"required": ["set_name"]}],
                "additionalProperties": True,
            },
            "variant_attributes_schema": {
                "type": "object",
                "properties": {
                    "finish": {"type": "string", "enum": FINISHES},
                    "language": {"type": "string", "enum": LANGUAGES},
                    "serial_number": {"type": "string", "maxLength": 64},
                },
                "additionalProperties": False,
            },
        },
        {
            "slug": "tcg-sealed",
            "name": "Sealed product",
            "serialized": False,
            "attributes_schema": {
                "type": "object",
                "properties": {
                    "game": {"type": "string", "enum": GAMES},
                    "set_code": {"type": "string", "maxLength": 16},
                    "set_name": {"type": "string", "maxLength": 200},
                    "kind": {"type": "string", "enum": ["booster-pack", "booster-box", "bundle",
                                                        "deck", "collection", "case", "other"]},
                },
                "required": ["game", "kind"],
                "additionalProperties": True,
            },
            "variant_attributes_schema": {
                "type": "object",
                "properties": {"language": {"type": "string", "enum": LANGUAGES},
                               "tcgplayer_id": TCGPLAYER_ID},
                "additionalProperties": False,
            },
        },
        {
            "slug": "accessory",
            "name": "Accessory",
            "serialized": False,
            "attributes_schema": {"type": "object", "properties": {
                "brand": {"type": "string", "maxLength": 100}}},
            "variant_attributes_schema": {"type": "object", "properties": {
                "color": {"type": "string", "maxLength": 50},
                "size": {"type": "string", "maxLength": 50}}},
        },
    ],
}
