"""The GraphQL machinery of the Shopify emulator: how fields resolve, connections, errors,
and the JSONL a bulk query writes. The resolvers themselves are in ``resolvers``
(queries and objects) and ``mutations``.

Every field goes through ``resolve_field``: a registered resolver when the value is computed,
otherwise the record attribute of the same name in snake case. It also measures what the
response really cost (the actual query cost in ``extensions.cost``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    execute_sync,
    get_named_type,
    parse,
)

from mercato_emulators.shopify.model import GID, Record, iso, money
from mercato_emulators.shopify.schema import (
    MAX_PAGE,
    MUTATION_COST,
    compile_search,
    decode_cursor,
    encode_cursor,
    schema_for,
)

if TYPE_CHECKING:
    from mercato_emulators.shopify.server import ShopifyEmulator

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=Record)
Resolver = Callable[..., Any]
Resolvers = Mapping[tuple[str, str], Resolver]
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class Context:
    emulator: ShopifyEmulator
    version: str
    base_url: str
    resolvers: Resolvers
    bulk: bool = False
    variables: dict[str, Any] = field(default_factory=dict)
    measured: int = 0


Info: TypeAlias = "GraphQLResolveInfo[Context]"


def register(registry: dict[tuple[str, str], Resolver], type_name: str,
             *fields: str) -> Callable[[Resolver], Resolver]:
    """A decorator that files a resolver under ``type_name.field`` for each field."""
    def decorate(fn: Resolver) -> Resolver:
        for name in fields:
            registry[(type_name, name)] = fn
        return fn
    return decorate


def emulator_of(info: Info) -> ShopifyEmulator:
    return info.context.emulator


def context_of(info: Info) -> Context:
    return info.context


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return money(value)
    return value


def _composite(named: Any) -> bool:
    return isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)


def _measure(info: Info, value: Any) -> None:
    """Add what this field really returned to the actual cost."""
    context = context_of(info)
    if info.parent_type.name == "Mutation":
        context.measured += MUTATION_COST
        return
    named = get_named_type(info.return_type)
    if value is None or not _composite(named):
        return
    if named.name.endswith("Connection"):
        context.measured += 2
    elif named.name.endswith("Edge") or named.name == "PageInfo":
        return
    elif isinstance(value, list):
        per_item = info.parent_type.name.endswith("Connection") or info.field_name == "nodes"
        context.measured += len(value) if per_item else 1
    else:
        context.measured += 1


def resolve_field(source: Any, info: Info, **args: Any) -> Any:
    resolver = info.context.resolvers.get((info.parent_type.name, info.field_name))
    if resolver is not None:
        value = resolver(source, info, **args)
    elif isinstance(source, Mapping):
        value = source.get(info.field_name)
    elif info.field_name == "id":
        value = source.gid
    elif info.field_name == "legacyResourceId":
        value = str(source.num)
    else:
        value = getattr(source, _CAMEL.sub("_", info.field_name).lower(), None)
    _measure(info, value)
    return _plain(value)


def resolve_type(value: Any, info: Info, abstract: Any) -> str | None:
    if isinstance(value, Mapping):
        name = value.get("__typename")
        return str(name) if name else None
    return str(type(value).KIND)


def execute_operation(schema: GraphQLSchema, document: DocumentNode,
                      operation_name: str | None, variables: Mapping[str, Any],
                      context: Context) -> ExecutionResult:
    return execute_sync(schema, document, variable_values=dict(variables),
                        operation_name=operation_name, context_value=context,
                        field_resolver=resolve_field, type_resolver=resolve_type)


def format_error(error: GraphQLError, default_code: str) -> dict[str, Any]:
    """Shopify's error shape: message, locations, path, ``extensions.code``."""
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("emulator resolver failed", exc_info=original)
        formatted["message"] = ("Internal error. Looks like something went wrong on our end. "
                                f"(emulator: {original!r})")
        extensions["code"] = "INTERNAL_SERVER_ERROR"
    extensions.setdefault("code", default_code)
    formatted["extensions"] = extensions
    return formatted


def bad_request(message: str, code: str = "BAD_REQUEST") -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


# -- helpers ------------------------------------------------------------------------------------

def find(info: Info, cls: type[R], value: Any) -> R | None:
    """A record by gid as an ``ID`` argument: not a gid at all is an error (as on Shopify), a
    gid of another kind or an unknown number is simply not found."""
    text = str(value or "")
    match = GID.match(text)
    if match is None:
        raise bad_request(f"Invalid global id '{text}'", "argumentLiteralsIncompatible")
    if match.group(1) != cls.KIND:
        return None
    return emulator_of(info).table(cls).get(int(match.group(2)))


def input_find(info: Info, cls: type[R], value: Any) -> R | None:
    """Like ``_find`` for ids inside mutation input, where a bad id is a user error."""
    match = GID.match(str(value or ""))
    if match is None or match.group(1) != cls.KIND:
        return None
    return emulator_of(info).table(cls).get(int(match.group(2)))


def bag(amount: Decimal, currency: str) -> dict[str, Any]:
    money_v2 = {"amount": amount, "currencyCode": currency}
    return {"shopMoney": money_v2, "presentmentMoney": money_v2}


def user_error(path: Sequence[str | int] | None, message: str,
                code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"field": None if path is None else [str(p) for p in path],
                             "message": message}
    if code is not None:
        error["code"] = code
    return error


def time_key(moment: datetime, num: int) -> tuple[float, int]:
    return (moment.timestamp(), num)


def connection(info: Info, items: Sequence[T], args: Mapping[str, Any],
               key: Callable[[T], tuple[Any, ...]]) -> dict[str, Any]:
    """One page of ``items`` as a Relay connection, ordered by ``key`` (which ends with the
    record number, so it is unique); cursors encode the key, so a page boundary holds while
    records are added. In a bulk query there is no page: everything is returned."""
    first, last = args.get("first"), args.get("last")
    ordered = sorted(items, key=key, reverse=bool(args.get("reverse")))
    keys = [key(item) for item in ordered]
    if context_of(info).bulk:
        return _page(ordered, keys, 0, len(ordered))
    if first is None and last is None:
        raise bad_request("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE:
            raise bad_request(f"The {name} argument must be between 0 and {MAX_PAGE}.")
    start, end = 0, len(ordered)
    backwards = bool(args.get("reverse"))
    for name in ("after", "before"):
        cursor = args.get(name)
        if cursor is None:
            continue
        decoded = decode_cursor(str(cursor))
        if decoded is None:
            raise bad_request(f"Invalid cursor for current pagination sort: {cursor}")

        def beyond(k: tuple[Any, ...], mark: tuple[Any, ...] = decoded) -> bool:
            return k < mark if backwards else k > mark

        try:
            if name == "after":
                start = next((i for i, k in enumerate(keys) if beyond(k)), len(keys))
            else:
                end = next((i for i, k in enumerate(keys) if k == decoded or beyond(k)),
                           len(keys))
        except TypeError:
            raise bad_request(f"Invalid cursor for current pagination sort: {cursor}"
                               ) from None
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    return _page(ordered, keys, start, end)


def _page(ordered: Sequence[Any], keys: Sequence[tuple[Any, ...]], start: int,
          end: int) -> dict[str, Any]:
    window = range(start, max(start, end))
    edges = [{"cursor": encode_cursor(keys[i]), "node": ordered[i]} for i in window]
    return {"edges": edges, "nodes": [ordered[i] for i in window], "pageInfo": {
        "hasNextPage": max(start, end) < len(ordered), "hasPreviousPage": start > 0,
        "startCursor": edges[0]["cursor"] if edges else None,
        "endCursor": edges[-1]["cursor"] if edges else None}}


def search(query: str | None, getters: Mapping[str, Callable[[Any], Any]],
            free_text: Callable[[Any], Any], items: Sequence[T]) -> list[T]:
    predicate = compile_search(query, getters, free_text)
    return [item for item in items if predicate(item)]


# -- bulk query output --------------------------------------------------------------------------

def _is_connection(value: Any) -> bool:
    return (isinstance(value, dict) and bool(value)
            and set(value) <= {"edges", "nodes", "pageInfo"}
            and ("edges" in value or "nodes" in value))


def _connection_nodes(value: dict[str, Any]) -> list[dict[str, Any]]:
    if "edges" in value:
        return [edge["node"] for edge in value["edges"] or ()
                if isinstance(edge, dict) and isinstance(edge.get("node"), dict)]
    return [node for node in value.get("nodes") or () if isinstance(node, dict)]


def _own_id(value: dict[str, Any]) -> str | None:
    ident = value.get("id")
    return ident if isinstance(ident, str) else None


def _strip(value: dict[str, Any], nearest: str | None,
           children: list[tuple[dict[str, Any], str | None]]) -> dict[str, Any]:
    """A copy without nested connections; those are set aside with the id of their nearest
    enclosing object that has one."""
    out: dict[str, Any] = {}
    for key, inner in value.items():
        if _is_connection(inner):
            children.append((inner, nearest))
        elif isinstance(inner, dict):
            out[key] = _strip(inner, _own_id(inner) or nearest, children)
        elif isinstance(inner, list):
            out[key] = [_strip(v, _own_id(v) or nearest, children) if isinstance(v, dict)
                        else v for v in inner]
        else:
            out[key] = inner
    return out


def _write_node(node: dict[str, Any], parent: str | None, lines: list[str]) -> None:
    children: list[tuple[dict[str, Any], str | None]] = []
    row = _strip(node, _own_id(node) or parent, children)
    if parent is not None:
        row["__parentId"] = parent
    lines.append(json.dumps(row, separators=(",", ":")))
    for child_connection, child_parent in children:
        for child in _connection_nodes(child_connection):
            _write_node(child, child_parent, lines)


def bulk_lines(em: ShopifyEmulator, query: str, version: str, base_url: str,
               resolvers: Resolvers) -> tuple[list[str], int]:
    """Run a bulk query without page limits and flatten it as Shopify's JSONL: one line per
    node, nested connections removed, their nodes on their own lines with ``__parentId``.
    Returns (lines, number of root objects)."""
    context = Context(em, version, base_url, resolvers, bulk=True)
    result = execute_operation(schema_for(version), parse(query), None, {}, context)
    if result.errors:
        raise RuntimeError(result.errors[0].message)
    lines: list[str] = []
    roots = 0
    for value in (result.data or {}).values():
        nodes = _connection_nodes(value) if _is_connection(value) else (
            [value] if isinstance(value, dict) else [])
        for node in nodes:
            roots += 1
            _write_node(node, None, lines)
    return lines, roots
