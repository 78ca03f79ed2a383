"""The catalog's CSV formats: Mercato's own (one row per variant), TCGplayer's inventory and
BinderPOS's product file.

All are read into ``SourceRow``s: the cells of one variant row in Mercato's column names, with
the line it started on. ``docs/catalog-csv.md`` documents the columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mercato.catalog.service import slugify
from mercato.catalog.tcg import LANGUAGES
from mercato.core import csvcells

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
BINDERPOS_COLUMNS = ("Game Type", "Binder ID", "Card Name", "Set Name", "Collector Number",
                     "Rarity", "Variant Title", "Price", "Barcode", "SKU")
"""The columns a BinderPOS export writes, in order (see docs/catalog-csv.md)."""
FORMATS = ("mercato", "tcgplayer", "binderpos")
EXPORT_FORMATS = ("mercato", "binderpos", "tcgplayer")
TCG_FORMATS = frozenset({"tcgplayer", "binderpos"})
"""Formats whose files describe cards: importing one installs the ``tcg`` product types."""


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (its header, its encoding): nothing is imported."""


@dataclass(frozen=True)
class CsvLimits:
    """How large a file's rows may be (``MERCATO_CSV_MAX_COLUMNS``,
    ``MERCATO_CSV_MAX_ROW_CHARS``): a header of a million columns, checked at all, is work
    for nothing."""

    max_columns: int = 200
    max_row_chars: int = 1_000_000


def repeated_names(names: list[str]) -> list[str]:
    """The names given more than once, sorted: one pass (``list.count`` for every name took
    15 s for a 40,000-column header)."""
    return sorted(name for name, seen in Counter(names).items() if seen > 1)


@dataclass
class SourceRow:
    line: int
    cells: dict[str, str]
    create_only: frozenset[str] = field(default_factory=frozenset)
    """Product columns applied only when the row creates its product (TCGplayer's status)."""
    stock: tuple[str, str] | None = None
    """A TCGplayer row's ``Total Quantity`` and ``Add to Quantity`` cells, as written: stock
    at the import's location (``imports``), not catalog columns."""
    warnings: list[tuple[str, str]] = field(default_factory=list)
    """(column, message): what the row keeps as written though Mercato does not know it (an
    unknown rarity, condition or game). Reported on the job's line; the row is imported."""

    @property
    def group(self) -> str:
        """Rows of one product share a key: the handle, or failing that the SKU."""
        return self.cells.get("handle") or f"sku:{self.cells.get('sku', '')}"


def known_column(name: str) -> bool:
    return (name in PRODUCT_COLUMNS or name in VARIANT_COLUMNS
            or (name.startswith(PRODUCT_ATTR) and len(name) > len(PRODUCT_ATTR))
            or (name.startswith(VARIANT_ATTR) and len(name) > len(VARIANT_ATTR)))


def detect_format(header: list[str]) -> str:
    """A Binder ID column wins over a TCGplayer Id one: BinderPOS files may carry both."""
    if any(_squash(name) == "binderid" for name in header):
        return "binderpos"
    return "tcgplayer" if "TCGplayer Id" in header else "mercato"


def check_header(header: list[str], fmt: str, limits: CsvLimits = CsvLimits()) -> None:
    if len(header) > limits.max_columns:
        raise CsvFormatError(f"The header has {len(header)} columns; at most "
                             f"{limits.max_columns} (MERCATO_CSV_MAX_COLUMNS).")
    if fmt == "binderpos":
        binderpos_columns(header)
        return
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
    repeated = repeated_names(header)
    if repeated:
        raise CsvFormatError(f"Repeated column(s): {', '.join(repeated)}.")


def _text(content: bytes) -> io.StringIO:
    try:
        return io.StringIO(content.decode("utf-8-sig"), newline="")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(f"The file is not UTF-8 (byte {exc.start}).") from None


@dataclass(frozen=True)
class Header:
    """What ``read_header`` learnt of a file: its format, its data rows, and whether a
    TCGplayer file's stock columns hold any number (then it needs a location)."""

    format: str
    rows: int
    stock_numbers: bool = False


def read_header(content: bytes, fmt: str | None,
                limits: CsvLimits = CsvLimits()) -> tuple[str, int]:
    """The file's format and how many data rows it has; raises if it cannot be imported
    (a header or a row past ``limits`` included). Linear in the file's size."""
    header = scan(content, fmt, limits)
    return header.format, header.rows


def scan(content: bytes, fmt: str | None, limits: CsvLimits = CsvLimits()) -> Header:
    """``read_header``, also noting whether a TCGplayer file's ``Total Quantity`` or ``Add to
    Quantity`` cells hold anything."""
    nul = content.find(b"\x00")
    if nul >= 0:  # no text column stores it (PostgreSQL refuses it): the file, not a row
        raise CsvFormatError(f"The file holds the NUL character (byte {nul}); no text column "
                             "can store it.")
    reader = csv.reader(_text(content))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CsvFormatError("The file is empty.") from None
    except csv.Error as exc:
        raise CsvFormatError(f"Not readable as CSV: {exc}.") from None
    if len(header) > limits.max_columns:  # before anything looks at the names
        raise CsvFormatError(f"The header has {len(header)} columns; at most "
                             f"{limits.max_columns} (MERCATO_CSV_MAX_COLUMNS).")
    fmt = fmt or detect_format(header)
    check_header(header, fmt, limits)
    rows, stock_numbers = 0, False
    stock_columns = [i for i, name in enumerate(header) if name in STOCK_COLUMNS] \
        if fmt == "tcgplayer" else []
    try:
        for row in reader:
            if len(row) > limits.max_columns:
                raise CsvFormatError(f"Line {reader.line_num} has {len(row)} cells; at most "
                                     f"{limits.max_columns} (MERCATO_CSV_MAX_COLUMNS).")
            if sum(map(len, row)) > limits.max_row_chars:
                raise CsvFormatError(f"Line {reader.line_num} is longer than "
                                     f"{limits.max_row_chars} characters "
                                     "(MERCATO_CSV_MAX_ROW_CHARS).")
            if any(cell.strip() for cell in row):
                rows += 1
                if stock_columns and not stock_numbers:
                    stock_numbers = any(i < len(row) and row[i].strip() for i in stock_columns)
    except csv.Error as exc:
        raise CsvFormatError(f"Not readable as CSV at line {reader.line_num}: {exc}.") from None
    return Header(fmt, rows, stock_numbers)


def read_rows(content: bytes, fmt: str, *, skip: int = 0) -> Iterator[SourceRow]:
    """The data rows after the first ``skip``, in Mercato's column names."""
    reader = csv.reader(_text(content))
    header = [h.strip() for h in next(reader)]
    rename = binderpos_columns(header) if fmt == "binderpos" else {}
    count, line = 0, reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        count += 1
        if count <= skip:
            continue
        cells = {name: csvcells.unescape(value).strip()
                 for name, value in zip(header, values, strict=False)}
        for name in header[len(values):]:
            cells[name] = ""
        if fmt == "tcgplayer":
            yield from_tcgplayer(start, cells)
        elif fmt == "binderpos":
            yield from_binderpos(start, {rename[name]: value for name, value in cells.items()
                                         if name in rename})
        else:
            yield SourceRow(start, cells)


# -- TCGplayer ---------------------------------------------------------------------------------

GAMES = {"magic": "magic", "pokemon": "pokemon", "pokémon": "pokemon", "yugioh": "yugioh",
         "yu-gi-oh": "yugioh", "lorcana": "lorcana", "one piece": "onepiece",
         "flesh and blood": "fab", "digimon": "digimon"}
CONDITIONS = {"near mint": "NM", "lightly played": "LP", "moderately played": "MP",
              "heavily played": "HP", "damaged": "DMG"}
LANGUAGE_NAMES = {"english": "EN", "japanese": "JA", "german": "DE", "french": "FR",
                  "italian": "IT", "spanish": "ES", "portuguese": "PT", "korean": "KO",
                  "chinese": "ZH-CN", "russian": "RU"}
FINISH_WORDS = (("reverse", "reverse-holo"), ("etched", "etched"), ("surge", "surge-foil"),
                ("gilded", "gilded"), ("textured", "textured"), ("holofoil", "holo"),
                ("holo", "holo"), ("foil", "foil"))
"""The first word found decides the finish: "Reverse Holofoil" is reverse-holo, not holo."""
CONDITION_NAMES = {code: name.title() for name, code in CONDITIONS.items()}
FINISH_NAMES = {"nonfoil": "", "foil": "Foil", "holo": "Holofoil",
                "reverse-holo": "Reverse Holofoil", "etched": "Etched Foil",
                "gilded": "Gilded Foil", "textured": "Textured Foil", "surge-foil": "Surge Foil"}
LANGUAGE_TITLES = {code: name.title() for name, code in LANGUAGE_NAMES.items() if code != "EN"}
STOCK_COLUMNS = ("Total Quantity", "Add to Quantity")
GAME_LINES = {"magic": "Magic", "pokemon": "Pokemon", "yugioh": "YuGiOh",
              "lorcana": "Lorcana TCG", "onepiece": "One Piece Card Game",
              "fab": "Flesh and Blood TCG", "digimon": "Digimon Card Game"}
"""Mercato's game → the Product Line an export writes (``_game`` reads each back)."""
RARITY_LETTERS = {"c": "common", "u": "uncommon", "r": "rare", "m": "mythic", "s": "special",
                  "p": "promo", "l": "land", "t": "token"}
"""One-letter rarities (as Magic's files sometimes write them) → their slug."""
KNOWN_RARITIES = frozenset({
    "common", "uncommon", "rare", "mythic", "mythic-rare", "special", "promo", "land", "token",
    "secret", "secret-rare", "super-rare", "ultra-rare", "legendary", "enchanted", "epic",
    "iconic", "holo-rare", "rare-holo", "double-rare", "illustration-rare",
    "special-illustration-rare", "hyper-rare", "ace-spec-rare", "shiny-rare",
    "shiny-ultra-rare", "amazing-rare", "radiant-rare", "rare-holo-v", "rare-holo-vmax",
    "rare-holo-vstar", "rare-holo-ex", "rare-holo-gx", "rare-ultra", "rare-secret",
    "rare-rainbow", "rare-shiny", "rare-prism-star", "starlight-rare",
    "quarter-century-secret-rare", "ghost-rare", "collectors-rare", "ultimate-rare",
    "prismatic-secret-rare", "platinum-secret-rare", "short-print", "super-short-print",
    "leader", "special-card", "treasure-rare", "fabled", "majestic", "marvel",
    "bonus", "other"})
"""Rarities the games name in TCGplayer's files: any other is kept too, with a warning (a
new set brings new ones; the warning says to check the spelling, not that it is wrong)."""
SEALED_CONDITIONS = frozenset({"", "unopened", "sealed", "new"})
"""Condition cells of sealed product (TCGplayer writes "Unopened")."""
assert set(LANGUAGE_NAMES.values()) <= set(LANGUAGES)


def _game(product_line: str) -> str:
    lowered = product_line.lower()
    return next((code for name, code in GAMES.items() if name in lowered), "other")


def rarity_slug(text: str) -> str:
    """A rarity as stored: lower case, words joined by ``-`` ("Super Rare" → ``super-rare``,
    "Holo Rare" → ``holo-rare``); a one-letter Magic rarity spelled out (``M`` → ``mythic``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")
    return RARITY_LETTERS.get(slug, slug)


def rarity_title(slug: str) -> str:
    """A stored rarity as files spell it: ``super-rare`` → ``Super Rare``."""
    return " ".join(word.capitalize() for word in slug.split("-") if word)


def _rarity(text: str, warnings: list[tuple[str, str]], column: str) -> str:
    slug = rarity_slug(text)
    if slug and slug not in KNOWN_RARITIES:
        warnings.append((column, f"rarity {text!r} is not one Mercato knows; kept as "
                                 f"{slug!r}"))
    return slug


def _words(text: str) -> list[str]:
    return " ".join(text.lower().replace("-", " ").split()).split()


def _finish_language(rest: list[str]) -> tuple[str, str]:
    finish = next((code for word, code in FINISH_WORDS if word in rest), "nonfoil")
    language = ("ZH-TW" if "chinese" in rest and "traditional" in rest
                else next((code for name, code in LANGUAGE_NAMES.items() if name in rest), "EN"))
    return finish, language


def parse_condition(text: str) -> tuple[str, str, str] | None:
    """``Near Mint Foil`` → (NM, foil, EN); ``Lightly Played Reverse Holofoil Japanese`` →
    (LP, reverse-holo, JA). None when the text names no condition (sealed product)."""
    lowered = " ".join(_words(text))
    condition = next((code for name, code in CONDITIONS.items() if lowered.startswith(name)),
                     None)
    if condition is None:
        return None
    return (condition, *_finish_language(lowered.split()))


def kept_condition(text: str) -> tuple[str, str, str]:
    """A condition ``parse_condition`` cannot read, kept as written (a store's own grades,
    "Mint", "Excellent"), with the finish and language its words still name."""
    return (" ".join(text.split())[:100], *_finish_language(_words(text)))


def condition_title(condition: str, finish: str, language: str) -> str:
    """The inverse of ``parse_condition``, spelled the way card stores title their variants:
    (LP, foil, JA) → ``Lightly Played Foil Japanese``; (NM, nonfoil, EN) → ``Near Mint``. A
    condition kept as written is written back as it was."""
    if condition not in CONDITION_NAMES:
        return condition
    words = [CONDITION_NAMES.get(condition, condition), FINISH_NAMES.get(finish, finish),
             "Traditional Chinese" if language == "ZH-TW" else LANGUAGE_TITLES.get(language, "")]
    return " ".join(word for word in words if word)


def from_tcgplayer(line: int, row: dict[str, str]) -> SourceRow:
    """One TCGplayer inventory row as a Mercato row: a card is a product, each
    condition/printing a variant with SKU ``TCG-<TCGplayer Id>``. Its stock cells ride
    along (``SourceRow.stock``); what it names that Mercato does not know is kept, with a
    warning."""
    warnings: list[tuple[str, str]] = []
    name = row.get("Product Name", "")
    set_name = row.get("Set Name", "")
    number = row.get("Number", "")
    product_line = row.get("Product Line", "")
    game = _game(product_line)
    price = row.get("TCG Marketplace Price") or row.get("TCG Market Price", "")
    condition_text = row.get("Condition", "")
    parsed = parse_condition(condition_text)
    cells = {"handle": slugify(f"{game} {set_name} {name} {number}"), "title": name,
             "status": "active", "sku": f"TCG-{row.get('TCGplayer Id', '')}", "price": price,
             "attr.game": game}
    if game == "other" and product_line:
        cells["attr.product_line"] = product_line[:200]
        warnings.append(("Product Line", f"game {product_line!r} is not one Mercato knows; "
                                         "kept in attr.product_line, attr.game is 'other'"))
    if set_name:
        cells["attr.set_name"] = set_name
    if parsed is None and " ".join(_words(condition_text)) in SEALED_CONDITIONS:
        cells.update({"product_type": "tcg-sealed", "attr.kind": "other"})
    else:
        if parsed is None:
            parsed = kept_condition(condition_text)
            warnings.append(("Condition", f"condition {condition_text!r} names none of Near "
                                          "Mint, Lightly Played, Moderately Played, Heavily "
                                          "Played, Damaged; kept as written"))
        cells.update({"product_type": "tcg-single", "attr.collector_number": number,
                      "attr.rarity": _rarity(row.get("Rarity", ""), warnings, "Rarity"),
                      "variant.attr.condition": parsed[0], "variant.attr.finish": parsed[1],
                      "variant.attr.language": parsed[2]})
    if row.get("Photo URL"):
        cells["media"] = json.dumps([{"url": row["Photo URL"], "alt": name, "position": 0}])
    stock = (row.get("Total Quantity", ""), row.get("Add to Quantity", ""))
    return SourceRow(line, cells, create_only=frozenset({"status"}),
                     stock=stock if any(stock) else None, warnings=warnings)


def tcgplayer_id(sku: str, variant_attributes: dict[str, Any]) -> str:
    """The TCGplayer Id of a variant: from a ``TCG-<id>`` SKU, else its ``tcgplayer_id``
    attribute, else empty (TCGplayer cannot match the row)."""
    if sku.startswith("TCG-") and sku[4:].isdigit():
        return sku[4:]
    return str(variant_attributes.get("tcgplayer_id", "") or "")


def to_tcgplayer(*, tcgplayer_id: str, title: str, attributes: dict[str, Any],
                 variant_attributes: dict[str, Any], sealed: bool, quantity: int, price: str,
                 photo_url: str) -> list[str]:
    """One variant as a row of TCGplayer's inventory file (``TCGPLAYER_COLUMNS``), which
    ``from_tcgplayer`` reads back to the same product and variant. Market prices are
    TCGplayer's to fill; ``Add to Quantity`` is left empty (``Total Quantity`` says it)."""
    game = str(attributes.get("game", ""))
    line = str(attributes.get("product_line") or GAME_LINES.get(game, game))
    if sealed:
        condition = "Unopened"
    else:
        condition = condition_title(str(variant_attributes.get("condition", "")),
                                    str(variant_attributes.get("finish", "nonfoil")),
                                    str(variant_attributes.get("language", "EN")))
    values = {"TCGplayer Id": tcgplayer_id, "Product Line": line,
              "Set Name": str(attributes.get("set_name", "")), "Product Name": title,
              "Number": str(attributes.get("collector_number", "")),
              "Rarity": rarity_title(str(attributes.get("rarity", ""))), "Condition": condition,
              "Total Quantity": str(quantity), "TCG Marketplace Price": price,
              "Photo URL": photo_url}
    return [values.get(column, "") for column in TCGPLAYER_COLUMNS]


# -- BinderPOS --------------------------------------------------------------------------------

BINDERPOS_FIELDS = {
    "game": ("gametype", "game"), "binder_id": ("binderid",), "variant_title": ("varianttitle",),
    "name": ("cardname", "productname", "name"), "set": ("setname", "set"),
    "number": ("collectornumber", "cardnumber", "number"), "rarity": ("rarity",),
    "price": ("sellprice", "price"), "barcode": ("barcode",), "sku": ("sku",)}
"""Field → the header names (lower case, letters and digits only) that carry it, the first
present winning: the layout is not verified, so a file naming a field twice is still read."""
BINDERPOS_REQUIRED = {"game": "Game Type", "binder_id": "Binder ID", "name": "Card Name",
                      "variant_title": "Variant Title"}
BINDER_GAMES = {"mtg": "magic", "magic": "magic", "pokemon": "pokemon", "yugioh": "yugioh",
                "lorcana": "lorcana", "onepiece": "onepiece", "fab": "fab",
                "fleshandblood": "fab", "digimon": "digimon"}
"""BinderPOS game type codes → Mercato's games; ``mtg`` is the one seen in BinderPOS's own
traffic, the others are guesses, and names ("Pokémon") are also understood."""
BINDER_GAME_TYPES = {"magic": "mtg"}
"""Mercato's game → the Game Type an export writes when the SKU does not carry one."""
SEALED_KINDS = (("case", "case"), ("booster box", "booster-box"), ("display", "booster-box"),
                ("booster pack", "booster-pack"), ("pack", "booster-pack"),
                ("elite trainer box", "bundle"), ("bundle", "bundle"), ("deck", "deck"),
                ("collection", "collection"))
DEFAULT_VARIANT = "default title"  # Shopify's title for a product without options


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def binderpos_columns(header: list[str]) -> dict[str, str]:
    """Header name → field, for any column order, case and spacing; raises when a required
    column is missing or a column is given twice. Columns it does not know are ignored."""
    squashed = [_squash(name) for name in header]
    seen = Counter(squashed)
    known = {key for names in BINDERPOS_FIELDS.values() for key in names}
    repeated = sorted({name for name, key in zip(header, squashed, strict=True)
                       if key and seen[key] > 1 and key in known})
    if repeated:
        raise CsvFormatError(f"Repeated column(s): {', '.join(repeated)}.")
    fields: dict[str, str] = {}
    for field_name, names in BINDERPOS_FIELDS.items():
        present = next((name for name in names if name in squashed), None)
        if present is not None:
            fields[header[squashed.index(present)]] = field_name
    missing = [label for key, label in BINDERPOS_REQUIRED.items() if key not in fields.values()]
    if missing:
        raise CsvFormatError(f"Not a BinderPOS file: no {', '.join(missing)} column.")
    return fields


def _title_slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")


def binder_sku(game_type: str, binder_id: str, variant_title: str) -> str:
    """``BINDER-<game type>-<Binder ID>-<slug of the variant title>``: the three values
    BinderPOS finds a variant by (a Binder ID is only unique within its game), so importing
    the same file again updates the same variants."""
    suffix = _title_slug(variant_title)
    return f"BINDER-{_squash(game_type)}-{binder_id}" + (f"-{suffix}" if suffix else "")


def binder_key(sku: str, variant_title: str) -> tuple[str, str] | None:
    """(game type, Binder ID) back from a ``binder_sku``, or None for any other SKU."""
    if not sku.startswith("BINDER-"):
        return None
    game, _, rest = sku.removeprefix("BINDER-").partition("-")
    if not game or not rest:
        return None
    suffix = _title_slug(variant_title)
    if not suffix:
        return game, rest
    if rest.endswith(f"-{suffix}") and len(rest) > len(suffix) + 1:
        return game, rest[:-len(suffix) - 1]
    return game, rest.split("-", 1)[0]  # the title changed since: Binder IDs are numbers


def _binder_game(game_type: str) -> str:
    return BINDER_GAMES.get(_squash(game_type)) or _game(game_type)


def _sealed_kind(name: str) -> str:
    lowered = " ".join(re.findall(r"[a-z]+", name.lower()))
    return next((kind for words, kind in SEALED_KINDS
                 if re.search(rf"\b{words}\b", lowered)), "other")


def from_binderpos(line: int, row: dict[str, str]) -> SourceRow:
    """One BinderPOS row (keys as in ``BINDERPOS_FIELDS``) as a Mercato row: a card
    is a product, each variant title a variant.

    A title that names a condition makes a ``tcg-single`` variant. One that names none is a
    sealed product when it is empty or Shopify's "Default Title", or the row has no collector
    number; otherwise the row is a card whose condition is unreadable, and the text goes to
    the condition attribute so the import reports it on this row's line.
    """
    game_type, binder_id = row.get("game", ""), row.get("binder_id", "")
    title, name = row.get("variant_title", ""), row.get("name", "")
    set_name, number = row.get("set", ""), row.get("number", "")
    game = _binder_game(game_type) if game_type else ""  # blank: reported as a bad attr.game
    sku = row.get("sku") or (binder_sku(game_type, binder_id, title) if binder_id else "")
    cells = {"handle": slugify(f"{game} {set_name} {name} {number}"), "title": name,
             "status": "active", "sku": sku, "variant_title": title, "attr.game": game}
    if set_name:
        cells["attr.set_name"] = set_name
    if "price" in row:
        cells["price"] = row["price"].removeprefix("$").strip()
    if "barcode" in row:
        cells["barcode"] = row["barcode"]
    create_only = {"status"}
    warnings: list[tuple[str, str]] = []
    parsed = parse_condition(title)
    if parsed is None and (not number or title.lower() in ("", DEFAULT_VARIANT)):
        cells.update({"product_type": "tcg-sealed", "attr.kind": _sealed_kind(name)})
        create_only.add("attr.kind")  # a kind set by hand is not guessed over again
    else:
        if parsed is None:
            parsed = kept_condition(title)
            warnings.append(("Variant Title", f"{title!r} names none of Near Mint, Lightly "
                                              "Played, Moderately Played, Heavily Played, "
                                              "Damaged; the condition is kept as written"))
        condition, finish, language = parsed
        cells.update({"product_type": "tcg-single", "attr.collector_number": number,
                      "variant.attr.condition": condition, "variant.attr.finish": finish,
                      "variant.attr.language": language})
        if row.get("rarity"):
            cells["attr.rarity"] = _rarity(row["rarity"], warnings, "Rarity")
    return SourceRow(line, cells, create_only=frozenset(create_only), warnings=warnings)


def to_binderpos(*, title: str, attributes: dict[str, Any], sku: str, variant_title: str,
                 variant_attributes: dict[str, Any], price: str, barcode: str) -> list[str]:
    """One card variant as a BinderPOS row (``BINDERPOS_COLUMNS``) that ``from_binderpos``
    reads back to the same product and variant.

    The variant's own title is kept while it still says its condition, finish and language
    (BinderPOS matches variants by the exact title); otherwise the title is rebuilt from them.
    """
    key = binder_key(sku, variant_title)
    game = str(attributes.get("game", ""))
    shown = variant_title
    if "condition" in variant_attributes:
        wanted = (str(variant_attributes["condition"]),
                  str(variant_attributes.get("finish", "nonfoil")),
                  str(variant_attributes.get("language", "EN")))
        if parse_condition(variant_title) != wanted:
            shown = condition_title(*wanted)
    rarity = str(attributes.get("rarity", ""))
    return [key[0] if key else BINDER_GAME_TYPES.get(game, game), key[1] if key else "", title,
            str(attributes.get("set_name", "")), str(attributes.get("collector_number", "")),
            rarity_title(rarity), shown, price, barcode, sku]


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
