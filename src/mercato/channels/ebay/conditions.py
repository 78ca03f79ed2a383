"""Mercato's trading-card attributes as eBay's item condition, condition descriptors and
item specifics (aspects). Pure functions: no session, no HTTP.

eBay's trading-card categories (CCG Individual Cards 183454, Non-Sport 183050, Sports 261328)
take two conditions: ``LIKE_NEW`` (condition id 2750, "Graded") and ``USED_VERY_GOOD`` (4000,
"Ungraded"), each with its condition descriptors (ids from the Metadata API's
``getItemConditionPolicies`` for those categories):

- ungraded: 40001 Card Condition, one of 400010 Near mint or better, 400011 Excellent,
  400012 Very good, 400013 Poor;
- graded: 27501 Professional Grader (275010 PSA, 275013 BGS, 275015 CGC, 275016 SGC,
  2750115 TAG, 2750123 Other), 27502 Grade (275020 for 10, 275021 for 9.5 … 2750218 for 1),
  27503 Certification Number (open text in ``additionalInfo``, at most 30 characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GRADED_CONDITION = "LIKE_NEW"
UNGRADED_CONDITION = "USED_VERY_GOOD"
CONDITION_OTHER = "NEW"
"""Sealed product and accessories: eBay's plain ``NEW``."""

CARD_CONDITION = "40001"
PROFESSIONAL_GRADER = "27501"
GRADE = "27502"
CERTIFICATION_NUMBER = "27503"

CARD_CONDITION_VALUES = {
    "NM": "400010",   # Near mint or better
    "LP": "400011",   # Excellent
    "MP": "400012",   # Very good
    "HP": "400013",   # Poor
    "DMG": "400013",  # Poor
}
"""Mercato's TCG conditions (tcg.CONDITIONS) as eBay's ungraded card-condition values."""

GRADER_VALUES = {"PSA": "275010", "BGS": "275013", "CGC": "275015", "SGC": "275016",
                 "TAG": "2750115", "other": "2750123"}
GRADE_VALUES = {"10": "275020", "9.5": "275021", "9": "275022", "8.5": "275023",
                "8": "275024", "7.5": "275025", "7": "275026", "6.5": "275027", "6": "275028",
                "5.5": "275029", "5": "2750210", "4.5": "2750211", "4": "2750212",
                "3.5": "2750213", "3": "2750214", "2.5": "2750215", "2": "2750216",
                "1.5": "2750217", "1": "2750218"}

GAMES = {"magic": "Magic: The Gathering", "pokemon": "Pokémon TCG",
         "yugioh": "Yu-Gi-Oh! TCG", "lorcana": "Disney Lorcana TCG",
         "onepiece": "One Piece Card Game", "fab": "Flesh and Blood TCG",
         "digimon": "Digimon Card Game", "sports": "Sports", "other": "Other"}
FINISHES = {"nonfoil": "Regular", "foil": "Foil", "etched": "Etched Foil",
            "reverse-holo": "Reverse Holo", "holo": "Holo", "gilded": "Gilded",
            "textured": "Textured", "surge-foil": "Surge Foil"}
LANGUAGES = {"EN": "English", "JA": "Japanese", "DE": "German", "FR": "French",
             "IT": "Italian", "ES": "Spanish", "PT": "Portuguese", "KO": "Korean",
             "ZH-CN": "Simplified Chinese", "ZH-TW": "Traditional Chinese", "RU": "Russian"}


class NotListable(ValueError):
    """The card lacks what eBay needs to list it (a condition, a grader or grade eBay
    knows); the message says what."""


@dataclass(frozen=True)
class Listing:
    """What an inventory item carries besides its quantity."""

    condition: str
    condition_descriptors: list[dict[str, Any]] = field(default_factory=list)
    aspects: dict[str, list[str]] = field(default_factory=dict)


def _grade_key(grade: str) -> str:
    """``"9 Mint"`` → ``"9"``; ``"9.5"`` stays."""
    return grade.strip().split(" ", 1)[0]


def card_listing(product_type: str, attributes: Mapping[str, Any],
                 variant_attributes: Mapping[str, Any]) -> Listing:
    """The condition, descriptors and aspects of one variant of a product of
    ``product_type`` (``tcg-single``, ``tcg-graded``; anything else lists as ``NEW`` with
    what aspects it has). Raises ``NotListable``."""
    aspects = _aspects(attributes, variant_attributes)
    if product_type == "tcg-graded":
        grader = str(attributes.get("grading_company") or "")
        grade = _grade_key(str(attributes.get("grade") or ""))
        if grader not in GRADER_VALUES:
            raise NotListable(f"grader {grader!r} has no eBay value")
        if grade not in GRADE_VALUES:
            raise NotListable(f"grade {attributes.get('grade')!r} has no eBay value")
        descriptors: list[dict[str, Any]] = [
            {"name": PROFESSIONAL_GRADER, "values": [GRADER_VALUES[grader]]},
            {"name": GRADE, "values": [GRADE_VALUES[grade]]}]
        certificate = str(attributes.get("certificate_number") or "").strip()
        if certificate:
            descriptors.append({"name": CERTIFICATION_NUMBER,
                                "additionalInfo": certificate[:30]})
        aspects.update({"Graded": ["Yes"], "Professional Grader": [_grader_name(grader)],
                        "Grade": [grade]})
        if certificate:
            aspects["Certification Number"] = [certificate[:65]]
        return Listing(GRADED_CONDITION, descriptors, aspects)
    if product_type == "tcg-single":
        condition = str(variant_attributes.get("condition") or "")
        if condition not in CARD_CONDITION_VALUES:
            raise NotListable(f"card condition {condition!r} has no eBay value")
        aspects["Graded"] = ["No"]
        return Listing(UNGRADED_CONDITION, [{"name": CARD_CONDITION,
                                             "values": [CARD_CONDITION_VALUES[condition]]}],
                       aspects)
    return Listing(CONDITION_OTHER, [], aspects)


def _grader_name(grader: str) -> str:
    return {"PSA": "Professional Sports Authenticator (PSA)",
            "BGS": "Beckett Grading Services (BGS)",
            "CGC": "Certified Guaranty Company (CGC)",
            "SGC": "Sportscard Guaranty Corporation (SGC)",
            "TAG": "Technical Authentication & Grading (TAG)"}.get(grader, "Other")


def _aspects(attributes: Mapping[str, Any],
             variant_attributes: Mapping[str, Any]) -> dict[str, list[str]]:
    """eBay's item specifics (each a list of at most 65-character values)."""
    out: dict[str, list[str]] = {}

    def put(name: str, value: Any) -> None:
        if value not in (None, ""):
            out[name] = [str(value)[:65]]

    game = attributes.get("game")
    put("Game", GAMES.get(str(game), game) if game else None)
    put("Set", attributes.get("set_name") or attributes.get("set_code"))
    put("Card Number", attributes.get("collector_number"))
    put("Rarity", str(attributes.get("rarity") or "").title() or None)
    finish = variant_attributes.get("finish")
    put("Finish", FINISHES.get(str(finish), finish) if finish else None)
    language = variant_attributes.get("language")
    put("Language", LANGUAGES.get(str(language), language) if language else None)
    return out


def inventory_item(*, title: str, description: str, listing: Listing, quantity: int,
                   image_urls: list[str], card_name: str | None = None) -> dict[str, Any]:
    """The body of ``PUT /sell/inventory/v1/inventory_item/{sku}`` (a full replace)."""
    aspects = dict(listing.aspects)
    if card_name:
        aspects.setdefault("Card Name", [card_name[:65]])
    product: dict[str, Any] = {"title": title[:80], "description": description or title,
                               "aspects": aspects}
    if image_urls:
        product["imageUrls"] = image_urls[:24]
    body: dict[str, Any] = {
        "availability": {"shipToLocationAvailability": {"quantity": max(0, quantity)}},
        "condition": listing.condition, "product": product}
    if listing.condition_descriptors:
        body["conditionDescriptors"] = listing.condition_descriptors
    return body
