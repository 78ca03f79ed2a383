"""Mercato's card attributes as eBay's condition, condition descriptors and aspects."""

from __future__ import annotations

import pytest

from mercato.channels.ebay.conditions import NotListable, card_listing, inventory_item

SINGLE = {"game": "magic", "set_name": "Dominaria United", "collector_number": "107",
          "rarity": "mythic"}
SLAB = {"game": "pokemon", "set_name": "Base Set", "collector_number": "4",
        "grading_company": "PSA", "grade": "10", "certificate_number": "12345678"}


@pytest.mark.parametrize(("condition", "value"), [
    ("NM", "400010"), ("LP", "400011"), ("MP", "400012"), ("HP", "400013"),
    ("DMG", "400013")])
def test_an_ungraded_card_is_used_very_good_with_its_card_condition(condition: str,
                                                                    value: str) -> None:
    listing = card_listing("tcg-single", SINGLE, {"condition": condition, "finish": "foil",
                                                  "language": "JA"})
    assert listing.condition == "USED_VERY_GOOD"
    assert listing.condition_descriptors == [{"name": "40001", "values": [value]}]
    assert listing.aspects["Game"] == ["Magic: The Gathering"]
    assert listing.aspects["Finish"] == ["Foil"]
    assert listing.aspects["Language"] == ["Japanese"]
    assert listing.aspects["Graded"] == ["No"]


def test_a_psa_10_slab_is_like_new_with_grader_grade_and_certificate() -> None:
    listing = card_listing("tcg-graded", SLAB, {"finish": "holo", "language": "EN"})
    assert listing.condition == "LIKE_NEW"
    assert listing.condition_descriptors == [
        {"name": "27501", "values": ["275010"]}, {"name": "27502", "values": ["275020"]},
        {"name": "27503", "additionalInfo": "12345678"}]
    assert listing.aspects["Professional Grader"] == [
        "Professional Sports Authenticator (PSA)"]
    assert listing.aspects["Grade"] == ["10"]


def test_a_half_grade_with_a_label_maps_to_its_value() -> None:
    listing = card_listing("tcg-graded", {**SLAB, "grading_company": "BGS",
                                          "grade": "9.5 Gem Mint"}, {})
    assert listing.condition_descriptors[:2] == [
        {"name": "27501", "values": ["275013"]}, {"name": "27502", "values": ["275021"]}]


def test_a_card_without_a_condition_cannot_be_listed() -> None:
    with pytest.raises(NotListable):
        card_listing("tcg-single", SINGLE, {"finish": "foil"})


def test_the_inventory_item_carries_quantity_title_and_images() -> None:
    listing = card_listing("tcg-single", SINGLE, {"condition": "NM"})
    body = inventory_item(title="x" * 100, description="", listing=listing, quantity=-2,
                          image_urls=["https://img.test/a.jpg"], card_name="Sheoldred")
    assert body["availability"]["shipToLocationAvailability"]["quantity"] == 0
    assert len(body["product"]["title"]) == 80
    assert body["product"]["imageUrls"] == ["https://img.test/a.jpg"]
    assert body["product"]["aspects"]["Card Name"] == ["Sheoldred"]
    assert body["conditionDescriptors"] == [{"name": "40001", "values": ["400010"]}]
