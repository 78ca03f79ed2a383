"""The catalog's CSV formats: Mercato's own (one row per variant) and TCGplayer's inventory.

Both are read into ``SourceRow``s: the cells of one variant row in Mercato's column names, with
the line it started on. ``docs/catalog-csv.md`` documents the columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mercato.catalog.service import slugify
from mercato.catalog.tcg import LANGUAGES

PRODUCT_COLUMNS = ("handle", "title", "product_type", "status", "vendor", "category",
                   "collections", "tags", "description", "media")
VARIANT_COLUMNS = ("sku", "barcode", "variant_title", "price", "compare_at_price", "cost",
                   "currency", "weight_grams")
PRODUCT_ATTR, VARIANT_ATTR = "attr.", "variant.attr."
LIST_SEPARATOR = "|"

TCGPLAYER_COLUMNS = ("TCGplayer Id", "Product Line", "Set Name", "Product Name", "Title",
                     "Number", "Rarity", "Condition", "TCG Market Price", "TCG Direct Low",
                     "TCG Low Price With Shipping", "TCG Low Price", "Total Quantity",
                     "Add to Quantity", "TCG Marketplace Price", "Photo URL")
FORMATS = ("mercato", "tcgplayer")


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (its header, its encoding): nothing is imported."""


@dataclass
class SourceRow:
    line: int
    cells: dict[str, str]
    create_only: frozenset[str] = field(default_factory=frozenset)
    """Product columns applied only when the row creates its product (TCGplayer's status)."""

    @property
    def group(self) -> str:
        """Rows of one product share a key: the handle, or failing that the SKU."""
        return self.cells.get("handle") or f"sku:{self.cells.get('sku', '')}"


def known_column(name: str) -> bool:
    return (name in PRODUCT_COLUMNS or name in VARIANT_COLUMNS
            or (name.startswith(PRODUCT_ATTR) and len(name) > len(PRODUCT_ATTR))
            or (name.startswith(VARIANT_ATTR) and len(name) > len(VARIANT_ATTR)))


def detect_format(header: list[str]) -> str:
    return "tcgplayer" if "TCGplayer Id" in header else "mercato"


def check_header(header: list[str], fmt: str) -> None:
    if fmt == "tcgplayer":
        missing = [c for c in ("TCGplayer Id", "Product Name", "Condition") if c not in header]
        if missing:
            raise CsvFormatError(f"Not a TCGplayer inventory file: no {', '.join(missing)} "
                                 "column.")
        return
    if "sku" not in header:
        raise CsvFormatError("The header has no sku column: rows are matched by SKU.")
    unknown = [c for c in header if not known_column(c)]
    if unknown:
        raise CsvFormatError(f"Unknown column(s): {', '.join(unknown)}. See docs/catalog-csv.md.")
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise CsvFormatError(f"Repeated column(s): {', '.join(repeated)}.")


def _text(content: bytes) -> io.StringIO:
    try:
        return io.StringIO(content.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"The file is not UTF-8 (byte {exc.start}).") from None


def read_header(content: bytes, fmt: str | None) -> tuple[str, int]:
    """The file's format and how many data rows it has; raises if it cannot be imported."""
    reader = csv.reader(_text(content))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CsvFormatError("The file is empty.") from None
    except csv.Error as exc:
        raise CsvFormatError(f"Not readable as CSV: {exc}.") from None
    fmt = fmt or detect_format(header)
    check_header(header, fmt)
    try:
        rows = sum(1 for row in reader if any(cell.strip() for cell in row))
    except csv.Error as exc:
        raise CsvFormatError(f"Not readable as CSV at line {reader.line_num}: {exc}.") from None
    return fmt, rows


def read_rows(content: bytes, fmt: str, *, skip: int = 0) -> Iterator[SourceRow]:
    """The data rows after the first ``skip``, in Mercato's column names."""
    reader = csv.reader(_text(content))
    header = [h.strip() for h in next(reader)]
    count, line = 0, reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        count += 1
        if count <= skip:
            continue
        cells = {name: value.strip() for name, value in zip(header, values, strict=False)}
        for name in header[len(values):]:
            cells[name] = ""
        yield from_tcgplayer(start, cells) if fmt == "tcgplayer" else SourceRow(start, cells)


# -- TCGplayer ---------------------------------------------------------------------------------

GAMES = {"magic": "magic", "pokemon": "pokemon", "pokémon": "pokemon", "yugioh": "yugioh",
         "yu-gi-oh": "yugioh", "lorcana": "lorcana", "one piece": "onepiece",
         "flesh and blood": "fab", "digimon": "digimon"}
CONDITIONS = {"near mint": "NM", "lightly played": "LP", "moderately played": "MP",
              "heavily played": "HP", "damaged": "DMG"}
LANGUAGE_NAMES = {"english": "EN", "japanese": "JA", "german": "DE", "french": "FR",
                  "italian": "IT", "spanish": "ES", "portuguese": "PT", "korean": "KO",
                  "chinese": "ZH-CN", "russian": "RU"}
RARITIES = {"common": "common", "uncommon": "uncommon", "rare": "rare", "mythic": "mythic",
            "special": "special", "promo": "promo", "secret": "secret"}
assert set(LANGUAGE_NAMES.values()) <= set(LANGUAGES)


def _game(product_line: str) -> str:
    lowered = product_line.lower()
    return next((code for name, code in GAMES.items() if name in lowered), "other")


def _rarity(text: str) -> str:
    words = re.findall(r"[a-z]+", text.lower())
    return next((RARITIES[w] for w in words if w in RARITIES), "other")


def parse_condition(text: str) -> tuple[str, str, str] | None:
    """``Near Mint Foil`` → (NM, foil, EN); ``Lightly Played Reverse Holofoil Japanese`` →
    (LP, reverse-holo, JA). None when the text names no condition (sealed product)."""
    lowered = " ".join(text.lower().replace("-", " ").split())
    condition = next((code for name, code in CONDITIONS.items() if lowered.startswith(name)),
                     None)
    if condition is None:
        return None
    rest = lowered.split()
    finish = ("reverse-holo" if "reverse" in rest else "etched" if "etched" in rest
              else "holo" if "holofoil" in rest or "holo" in rest
              else "foil" if "foil" in rest else "nonfoil")
    language = next((code for name, code in LANGUAGE_NAMES.items() if name in rest), "EN")
    return condition, finish, language


def from_tcgplayer(line: int, row: dict[str, str]) -> SourceRow:
    """One TCGplayer inventory row as a Mercato row: a card is a product, each
    condition/printing a variant with SKU ``TCG-<TCGplayer Id>``."""
    name = row.get("Product Name", "")
    set_name = row.get("Set Name", "")
    number = row.get("Number", "")
    game = _game(row.get("Product Line", ""))
    price = row.get("TCG Marketplace Price") or row.get("TCG Market Price", "")
    parsed = parse_condition(row.get("Condition", ""))
    cells = {"handle": slugify(f"{game} {set_name} {name} {number}"), "title": name,
             "status": "active", "sku": f"TCG-{row.get('TCGplayer Id', '')}", "price": price,
             "attr.game": game}
    if set_name:
        cells["attr.set_name"] = set_name
    if parsed is None:
        cells.update({"product_type": "tcg-sealed", "attr.kind": "other"})
    else:
        cells.update({"product_type": "tcg-single", "attr.collector_number": number,
                      "attr.rarity": _rarity(row.get("Rarity", "")),
                      "variant.attr.condition": parsed[0], "variant.attr.finish": parsed[1],
                      "variant.attr.language": parsed[2]})
    if row.get("Photo URL"):
        cells["media"] = json.dumps([{"url": row["Photo URL"], "alt": name, "position": 0}])
    return SourceRow(line, cells, create_only=frozenset({"status"}))


# -- cells -------------------------------------------------------------------------------------

def split_list(cell: str) -> list[str]:
    return [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]


def join_list(items: Iterable[str]) -> str:
    return LIST_SEPARATOR.join(items)


def decode_attribute(cell: str, declared: str | None) -> Any:
    """A cell as an attribute value. A property the schema declares a string stays text;
    otherwise the cell is read as JSON when it parses (``3``, ``true``, ``["a"]``,
    ``"007"``), else as text."""
    if declared == "string":
        return cell
    try:
        return json.loads(cell)
    except ValueError:
        return cell


def encode_attribute(value: Any, declared: str | None) -> str:
    """The inverse of ``decode_attribute``: every value survives export and re-import."""
    if isinstance(value, str):
        if declared == "string":
            return value
        try:
            json.loads(value)
        except ValueError:
            return value
        return json.dumps(value, ensure_ascii=False)  # "123" stays text, not the number 123
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def declared_type(schema: dict[str, Any], name: str) -> str | None:
    spec = schema.get("properties", {}).get(name)
    kind = spec.get("type") if isinstance(spec, dict) else None
    return kind if isinstance(kind, str) else None
