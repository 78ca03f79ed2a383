"""The emulated slice of Shopify's GraphQL Admin schema (per API version), query cost, search
syntax and cursors.

The SDL keeps Shopify's type and field names so documents written for Shopify validate here
and fail here the way they fail there (an unknown field is a validation error). Input fields
that changed between versions are declared per version: ``compareQuantity`` and
``ignoreCompareQuantity`` before 2026-04, ``changeFromQuantity`` from 2026-01, and the
``@idempotent`` directive from 2026-01.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    get_named_type,
    get_nullable_type,
    value_from_ast_untyped,
)

from mercato_emulators.shopify.model import parse_time

SUPPORTED_VERSIONS = ("2025-07", "2025-10", "2026-01", "2026-04", "2026-07", "2026-10")
MAX_PAGE = 250
MAX_QUERY_COST = 1000
MUTATION_COST = 10

_BASE_SDL = """
scalar DateTime
scalar Money
scalar Decimal
scalar URL
scalar HTML
scalar UnsignedInt64

%(directives)s

interface Node { id: ID! }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

enum CurrencyCode { AUD BRL CAD CHF CNY CZK DKK EUR GBP HKD INR JPY KRW MXN NOK NZD PLN SEK SGD
  USD }
enum CountPrecision { EXACT AT_LEAST }
type Count { count: Int! precision: CountPrecision! }
type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }

type UserError { field: [String!] message: String! }

type Domain { id: ID! host: String! url: URL! }
type Shop implements Node {
  id: ID!
  name: String!
  email: String!
  myshopifyDomain: String!
  currencyCode: CurrencyCode!
  ianaTimezone: String!
  primaryDomain: Domain!
}

type Location implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  isActive: Boolean!
  fulfillsOnlineOrders: Boolean!
  createdAt: DateTime!
  updatedAt: DateTime!
  inventoryLevel(inventoryItemId: ID!): InventoryLevel
}
type LocationEdge { cursor: String! node: Location! }
type LocationConnection { edges: [LocationEdge!]! nodes: [Location!]! pageInfo: PageInfo! }

enum ProductStatus { ACTIVE ARCHIVED DRAFT }
enum ProductSortKeys { CREATED_AT ID INVENTORY_TOTAL PRODUCT_TYPE RELEVANCE TITLE UPDATED_AT
  VENDOR }
enum ProductVariantSortKeys { FULL_TITLE ID INVENTORY_QUANTITY NAME POSITION RELEVANCE SKU TITLE }
type ProductOptionValue { id: ID! name: String! hasVariants: Boolean! }
type ProductOption {
  id: ID!
  name: String!
  position: Int!
  values: [String!]!
  optionValues: [ProductOptionValue!]!
}
type Product implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  handle: String!
  title: String!
  description: String!
  descriptionHtml: HTML!
  vendor: String!
  productType: String!
  status: ProductStatus!
  tags: [String!]!
  createdAt: DateTime!
  updatedAt: DateTime!
  options(first: Int): [ProductOption!]!
  totalInventory: Int!
  tracksInventory: Boolean!
  variantsCount: Count
  variants(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
           sortKey: ProductVariantSortKeys = POSITION): ProductVariantConnection!
}
type ProductEdge { cursor: String! node: Product! }
type ProductConnection { edges: [ProductEdge!]! nodes: [Product!]! pageInfo: PageInfo! }

type SelectedOption { name: String! value: String! }
enum ProductVariantInventoryPolicy { CONTINUE DENY }
type ProductVariant implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  sku: String
  barcode: String
  title: String!
  displayName: String!
  price: Money!
  compareAtPrice: Money
  position: Int!
  inventoryQuantity: Int
  inventoryPolicy: ProductVariantInventoryPolicy!
  selectedOptions: [SelectedOption!]!
  product: Product!
  inventoryItem: InventoryItem!
  createdAt: DateTime!
  updatedAt: DateTime!
}
type ProductVariantEdge { cursor: String! node: ProductVariant! }
type ProductVariantConnection {
  edges: [ProductVariantEdge!]!
  nodes: [ProductVariant!]!
  pageInfo: PageInfo!
}

type InventoryItem implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  sku: String
  tracked: Boolean!
  requiresShipping: Boolean!
  variant: ProductVariant!
  createdAt: DateTime!
  updatedAt: DateTime!
  inventoryLevel(locationId: ID!): InventoryLevel
  inventoryLevels(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
                  query: String): InventoryLevelConnection!
}
type InventoryItemEdge { cursor: String! node: InventoryItem! }
type InventoryItemConnection {
  edges: [InventoryItemEdge!]!
  nodes: [InventoryItem!]!
  pageInfo: PageInfo!
}
type InventoryQuantity { id: ID! name: String! quantity: Int! updatedAt: DateTime }
type InventoryLevel implements Node {
  id: ID!
  location: Location!
  item: InventoryItem!
  quantities(names: [String!]!): [InventoryQuantity!]!
  canDeactivate: Boolean!
  createdAt: DateTime!
  updatedAt: DateTime!
}
type InventoryLevelEdge { cursor: String! node: InventoryLevel! }
type InventoryLevelConnection {
  edges: [InventoryLevelEdge!]!
  nodes: [InventoryLevel!]!
  pageInfo: PageInfo!
}
type InventoryChange {
  name: String!
  delta: Int!
  quantityAfterChange: Int
  ledgerDocumentUri: String
  item: InventoryItem
  location: Location
}
type InventoryAdjustmentGroup implements Node {
  id: ID!
  createdAt: DateTime!
  reason: String!
  referenceDocumentUri: String
  changes(inventoryItemIds: [ID!], locationIds: [ID!], quantityNames: [String!]):
    [InventoryChange!]!
}

type Customer implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  email: String
  firstName: String
  lastName: String
  displayName: String!
}
type MailingAddress {
  firstName: String
  lastName: String
  name: String
  company: String
  address1: String
  address2: String
  city: String
  province: String
  provinceCode: String
  zip: String
  country: String
  countryCodeV2: String
  phone: String
}

enum OrderSortKeys { CREATED_AT CUSTOMER_NAME FINANCIAL_STATUS FULFILLMENT_STATUS ID NUMBER
  PROCESSED_AT RELEVANCE TOTAL_PRICE UPDATED_AT }
enum OrderDisplayFinancialStatus { AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED
  PENDING REFUNDED VOIDED }
enum OrderDisplayFulfillmentStatus { FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED
  PENDING_FULFILLMENT REQUEST_DECLINED RESTOCKED SCHEDULED UNFULFILLED }
enum OrderCancelReason { CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }
type Order implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  email: String
  note: String
  tags: [String!]!
  test: Boolean!
  closed: Boolean!
  closedAt: DateTime
  createdAt: DateTime!
  updatedAt: DateTime!
  processedAt: DateTime!
  cancelledAt: DateTime
  cancelReason: OrderCancelReason
  currencyCode: CurrencyCode!
  presentmentCurrencyCode: CurrencyCode!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  subtotalPriceSet: MoneyBag
  totalPriceSet: MoneyBag!
  currentTotalPriceSet: MoneyBag!
  totalRefundedSet: MoneyBag!
  totalTaxSet: MoneyBag
  totalShippingPriceSet: MoneyBag!
  customer: Customer
  shippingAddress: MailingAddress
  lineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false):
    LineItemConnection!
  fulfillmentOrders(first: Int, after: String, last: Int, before: String,
                    reverse: Boolean = false, displayable: Boolean = false, query: String):
    FulfillmentOrderConnection!
  fulfillments(first: Int): [Fulfillment!]!
  refunds(first: Int): [Refund!]!
  transactions(first: Int, capturable: Boolean, manuallyResolvable: Boolean):
    [OrderTransaction!]!
}
type OrderEdge { cursor: String! node: Order! }
type OrderConnection { edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }

type LineItem implements Node {
  id: ID!
  sku: String
  title: String!
  name: String!
  variantTitle: String
  vendor: String
  quantity: Int!
  currentQuantity: Int!
  refundableQuantity: Int!
  unfulfilledQuantity: Int!
  variant: ProductVariant
  product: Product
  originalUnitPriceSet: MoneyBag!
  discountedUnitPriceSet: MoneyBag!
  originalTotalSet: MoneyBag!
}
type LineItemEdge { cursor: String! node: LineItem! }
type LineItemConnection { edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }

enum FulfillmentOrderStatus { CANCELLED CLOSED INCOMPLETE IN_PROGRESS ON_HOLD OPEN SCHEDULED }
type FulfillmentOrderAssignedLocation { name: String! location: Location }
type FulfillmentOrder implements Node {
  id: ID!
  status: FulfillmentOrderStatus!
  orderId: ID!
  order: Order!
  createdAt: DateTime!
  updatedAt: DateTime!
  assignedLocation: FulfillmentOrderAssignedLocation!
  lineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false):
    FulfillmentOrderLineItemConnection!
}
type FulfillmentOrderEdge { cursor: String! node: FulfillmentOrder! }
type FulfillmentOrderConnection {
  edges: [FulfillmentOrderEdge!]!
  nodes: [FulfillmentOrder!]!
  pageInfo: PageInfo!
}
type FulfillmentOrderLineItem implements Node {
  id: ID!
  sku: String
  totalQuantity: Int!
  remainingQuantity: Int!
  inventoryItemId: ID
  lineItem: LineItem!
  variant: ProductVariant
}
type FulfillmentOrderLineItemEdge { cursor: String! node: FulfillmentOrderLineItem! }
type FulfillmentOrderLineItemConnection {
  edges: [FulfillmentOrderLineItemEdge!]!
  nodes: [FulfillmentOrderLineItem!]!
  pageInfo: PageInfo!
}

enum FulfillmentStatus { CANCELLED ERROR FAILURE OPEN PENDING SUCCESS }
type FulfillmentTrackingInfo { company: String number: String url: URL }
type FulfillmentLineItem implements Node { id: ID! quantity: Int lineItem: LineItem! }
type FulfillmentLineItemEdge { cursor: String! node: FulfillmentLineItem! }
type FulfillmentLineItemConnection {
  edges: [FulfillmentLineItemEdge!]!
  nodes: [FulfillmentLineItem!]!
  pageInfo: PageInfo!
}
type Fulfillment implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  status: FulfillmentStatus!
  createdAt: DateTime!
  updatedAt: DateTime!
  totalQuantity: Int!
  order: Order!
  location: Location
  trackingInfo(first: Int): [FulfillmentTrackingInfo!]!
  fulfillmentLineItems(first: Int, after: String, last: Int, before: String,
                       reverse: Boolean = false): FulfillmentLineItemConnection!
}

enum RefundLineItemRestockType { CANCEL LEGACY_RESTOCK NO_RESTOCK RETURN }
type RefundLineItem {
  id: ID
  quantity: Int!
  restockType: RefundLineItemRestockType!
  restocked: Boolean!
  location: Location
  lineItem: LineItem!
  priceSet: MoneyBag!
  subtotalSet: MoneyBag!
}
type RefundLineItemEdge { cursor: String! node: RefundLineItem! }
type RefundLineItemConnection {
  edges: [RefundLineItemEdge!]!
  nodes: [RefundLineItem!]!
  pageInfo: PageInfo!
}
type Refund implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  note: String
  createdAt: DateTime
  updatedAt: DateTime!
  order: Order!
  totalRefundedSet: MoneyBag!
  refundLineItems(first: Int, after: String, last: Int, before: String,
                  reverse: Boolean = false): RefundLineItemConnection!
}

enum OrderTransactionKind { AUTHORIZATION CAPTURE CHANGE EMV_AUTHORIZATION REFUND SALE
  SUGGESTED_REFUND VOID }
enum OrderTransactionStatus { AWAITING_RESPONSE ERROR FAILURE PENDING SUCCESS UNKNOWN }
type OrderTransaction implements Node {
  id: ID!
  kind: OrderTransactionKind!
  status: OrderTransactionStatus!
  gateway: String
  test: Boolean!
  createdAt: DateTime!
  processedAt: DateTime
  amountSet: MoneyBag!
  parentTransaction: OrderTransaction
  order: Order
}

type Job { id: ID! done: Boolean! }
enum OrderCancelUserErrorCode { INVALID NOT_FOUND NO_REFUND_PERMISSION }
type OrderCancelUserError { code: OrderCancelUserErrorCode field: [String!] message: String! }
type OrderCancelPayload {
  job: Job
  orderCancelUserErrors: [OrderCancelUserError!]!
  userErrors: [UserError!]!
}
input OrderCancelRefundMethodInput { originalPaymentMethodsRefund: Boolean }

input OrderTransactionInput {
  amount: Money!
  gateway: String!
  kind: OrderTransactionKind!
  orderId: ID!
  parentId: ID
}
input RefundLineItemInput {
  lineItemId: ID!
  quantity: Int!
  restockType: RefundLineItemRestockType
  locationId: ID
}
input RefundInput {
  currency: CurrencyCode
  orderId: ID!
  note: String
  notify: Boolean
  refundLineItems: [RefundLineItemInput!]
  transactions: [OrderTransactionInput!]
  allowOverRefunding: Boolean
}
type RefundCreatePayload { order: Order refund: Refund userErrors: [UserError!]! }

enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
type BulkOperation implements Node {
  id: ID!
  status: BulkOperationStatus!
  type: BulkOperationType!
  errorCode: BulkOperationErrorCode
  objectCount: UnsignedInt64!
  rootObjectCount: UnsignedInt64!
  fileSize: UnsignedInt64
  url: URL
  partialDataUrl: URL
  query: String!
  createdAt: DateTime!
  completedAt: DateTime
}
enum BulkOperationUserErrorCode { INVALID LIMIT_REACHED OPERATION_IN_PROGRESS }
type BulkOperationUserError { code: BulkOperationUserErrorCode field: [String!] message: String! }
type BulkOperationRunQueryPayload {
  bulkOperation: BulkOperation
  userErrors: [BulkOperationUserError!]!
}

enum WebhookSubscriptionTopic { APP_UNINSTALLED BULK_OPERATIONS_FINISH FULFILLMENTS_CREATE
  INVENTORY_ITEMS_UPDATE INVENTORY_LEVELS_UPDATE ORDERS_CANCELLED ORDERS_CREATE ORDERS_FULFILLED
  ORDERS_PAID ORDERS_UPDATED PRODUCTS_CREATE PRODUCTS_DELETE PRODUCTS_UPDATE REFUNDS_CREATE }
enum WebhookSubscriptionFormat { JSON XML }
type ApiVersion { handle: String! displayName: String! supported: Boolean! }
type WebhookHttpEndpoint { callbackUrl: URL! }
union WebhookSubscriptionEndpoint = WebhookHttpEndpoint
type WebhookSubscription implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  topic: WebhookSubscriptionTopic!
  uri: String!
  callbackUrl: URL!
  endpoint: WebhookSubscriptionEndpoint!
  format: WebhookSubscriptionFormat!
  includeFields: [String!]!
  filter: String
  apiVersion: ApiVersion!
  createdAt: DateTime!
  updatedAt: DateTime!
}
type WebhookSubscriptionEdge { cursor: String! node: WebhookSubscription! }
type WebhookSubscriptionConnection {
  edges: [WebhookSubscriptionEdge!]!
  nodes: [WebhookSubscription!]!
  pageInfo: PageInfo!
}
input WebhookSubscriptionInput {
  callbackUrl: URL
  uri: String
  format: WebhookSubscriptionFormat
  includeFields: [String!]
  filter: String
}
type WebhookSubscriptionCreatePayload {
  webhookSubscription: WebhookSubscription
  userErrors: [UserError!]!
}
type WebhookSubscriptionDeletePayload {
  deletedWebhookSubscriptionId: ID
  userErrors: [UserError!]!
}

input ProductIdentifierInput { id: ID handle: String }
input ProductSetIdentifiers { id: ID handle: String }
input OptionValueSetInput { name: String }
input OptionSetInput { name: String values: [OptionValueSetInput!] }
input VariantOptionValueInput { optionName: String name: String }
input InventoryItemInput { sku: String tracked: Boolean requiresShipping: Boolean }
input ProductVariantSetInput {
  id: ID
  optionValues: [VariantOptionValueInput!]!
  price: Money
  compareAtPrice: Money
  barcode: String
  sku: String
  position: Int
  inventoryPolicy: ProductVariantInventoryPolicy
  inventoryItem: InventoryItemInput
}
input ProductSetInput {
  id: ID
  title: String
  handle: String
  descriptionHtml: String
  vendor: String
  productType: String
  status: ProductStatus
  tags: [String!]
  productOptions: [OptionSetInput!]
  variants: [ProductVariantSetInput!]
}
enum ProductSetUserErrorCode { BLANK INVALID INVALID_VARIANT PRODUCT_DOES_NOT_EXIST
  PRODUCT_VARIANT_DOES_NOT_EXIST TAKEN DUPLICATED_OPTION_VALUE OPTION_DOES_NOT_EXIST }
type ProductSetUserError { code: ProductSetUserErrorCode field: [String!] message: String! }
type ProductSetPayload { product: Product userErrors: [ProductSetUserError!]! }

input ProductVariantsBulkInput {
  id: ID
  price: Money
  compareAtPrice: Money
  barcode: String
  inventoryPolicy: ProductVariantInventoryPolicy
  inventoryItem: InventoryItemInput
}
enum ProductVariantsBulkUpdateUserErrorCode { INVALID_INPUT PRODUCT_DOES_NOT_EXIST
  PRODUCT_VARIANT_DOES_NOT_EXIST PRODUCT_VARIANT_ID_MISSING GREATER_THAN_OR_EQUAL_TO }
type ProductVariantsBulkUpdateUserError {
  code: ProductVariantsBulkUpdateUserErrorCode
  field: [String!]
  message: String!
}
type ProductVariantsBulkUpdatePayload {
  product: Product
  productVariants: [ProductVariant!]
  userErrors: [ProductVariantsBulkUpdateUserError!]!
}

input FulfillmentOrderLineItemInput { id: ID! quantity: Int! }
input FulfillmentOrderLineItemsInput {
  fulfillmentOrderId: ID!
  fulfillmentOrderLineItems: [FulfillmentOrderLineItemInput!]
}
input FulfillmentTrackingInput {
  company: String
  number: String
  numbers: [String!]
  url: URL
  urls: [URL!]
}
input FulfillmentInput {
  lineItemsByFulfillmentOrder: [FulfillmentOrderLineItemsInput!]!
  trackingInfo: FulfillmentTrackingInput
  notifyCustomer: Boolean = false
}
type FulfillmentCreatePayload { fulfillment: Fulfillment userErrors: [UserError!]! }

input InventoryQuantityInput {
  inventoryItemId: ID!
  locationId: ID!
  quantity: Int!
%(quantity_cas)s
}
input InventorySetQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
%(set_ignore)s
  quantities: [InventoryQuantityInput!]!
}
enum InventorySetQuantitiesUserErrorCode { CHANGE_FROM_QUANTITY_STALE COMPARE_QUANTITY_REQUIRED
  COMPARE_QUANTITY_STALE IDEMPOTENCY_CONCURRENT_REQUEST IDEMPOTENCY_KEY_PARAMETER_MISMATCH INVALID
  INVALID_INVENTORY_ITEM INVALID_LOCATION INVALID_NAME INVALID_QUANTITY_NEGATIVE
  INVALID_QUANTITY_TOO_HIGH INVALID_QUANTITY_TOO_LOW INVALID_REASON INVALID_REFERENCE_DOCUMENT
  ITEM_NOT_STOCKED_AT_LOCATION NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR
  NON_MUTABLE_INVENTORY_ITEM }
type InventorySetQuantitiesUserError {
  code: InventorySetQuantitiesUserErrorCode
  field: [String!]
  message: String!
}
type InventorySetQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup
  userErrors: [InventorySetQuantitiesUserError!]!
}

input InventoryChangeInput {
  inventoryItemId: ID!
  locationId: ID!
  delta: Int!
  ledgerDocumentUri: String
%(change_cas)s
}
input InventoryAdjustQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
  changes: [InventoryChangeInput!]!
}
enum InventoryAdjustQuantitiesUserErrorCode { ADJUST_QUANTITIES_FAILED CHANGE_FROM_QUANTITY_STALE
  IDEMPOTENCY_CONCURRENT_REQUEST IDEMPOTENCY_KEY_PARAMETER_MISMATCH INVALID
  INVALID_INVENTORY_ITEM INVALID_LOCATION INVALID_QUANTITY_NAME INVALID_QUANTITY_TOO_HIGH
  INVALID_QUANTITY_TOO_LOW INVALID_REASON INVALID_REFERENCE_DOCUMENT
  ITEM_NOT_STOCKED_AT_LOCATION NON_MUTABLE_INVENTORY_ITEM }
type InventoryAdjustQuantitiesUserError {
  code: InventoryAdjustQuantitiesUserErrorCode
  field: [String!]
  message: String!
}
type InventoryAdjustQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup
  userErrors: [InventoryAdjustQuantitiesUserError!]!
}

type Query {
  shop: Shop!
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  location(id: ID): Location
  locations(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
            query: String, includeInactive: Boolean = false): LocationConnection!
  product(id: ID!): Product
  productByHandle(handle: String!): Product
  productByIdentifier(identifier: ProductIdentifierInput!): Product
  products(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
           query: String, sortKey: ProductSortKeys = ID): ProductConnection!
  productsCount(query: String): Count
  productVariant(id: ID!): ProductVariant
  productVariants(first: Int, after: String, last: Int, before: String,
                  reverse: Boolean = false, query: String,
                  sortKey: ProductVariantSortKeys = ID): ProductVariantConnection!
  inventoryItem(id: ID!): InventoryItem
  inventoryItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
                 query: String): InventoryItemConnection!
  inventoryLevel(id: ID!): InventoryLevel
  order(id: ID!): Order
  orders(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
         query: String, sortKey: OrderSortKeys = ID): OrderConnection!
  ordersCount(query: String): Count
  fulfillmentOrder(id: ID!): FulfillmentOrder
  job(id: ID!): Job
  bulkOperation(id: ID!): BulkOperation
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  webhookSubscription(id: ID!): WebhookSubscription
  webhookSubscriptions(first: Int, after: String, last: Int, before: String,
                       reverse: Boolean = false, topics: [WebhookSubscriptionTopic!],
                       uri: String, callbackUrl: URL): WebhookSubscriptionConnection!
}

type Mutation {
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
  inventoryAdjustQuantities(input: InventoryAdjustQuantitiesInput!):
    InventoryAdjustQuantitiesPayload
  bulkOperationRunQuery(query: String!, groupObjects: Boolean = false):
    BulkOperationRunQueryPayload
  productSet(input: ProductSetInput!, identifier: ProductSetIdentifiers,
             synchronous: Boolean = true): ProductSetPayload
  productVariantsBulkUpdate(productId: ID!, variants: [ProductVariantsBulkInput!]!,
                            allowPartialUpdates: Boolean = false):
    ProductVariantsBulkUpdatePayload
  fulfillmentCreate(fulfillment: FulfillmentInput!, message: String): FulfillmentCreatePayload
  orderCancel(orderId: ID!, reason: OrderCancelReason!, refund: Boolean,
              refundMethod: OrderCancelRefundMethodInput, restock: Boolean!,
              notifyCustomer: Boolean = false, staffNote: String): OrderCancelPayload
  refundCreate(input: RefundInput!): RefundCreatePayload
  webhookSubscriptionCreate(topic: WebhookSubscriptionTopic!,
                            webhookSubscription: WebhookSubscriptionInput!):
    WebhookSubscriptionCreatePayload
  webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
}
"""


def sdl_for(version: str) -> str:
    """The SDL of one API version (the parts that changed are filled in)."""
    cas_2026 = version >= "2026-01"
    legacy_compare = version < "2026-04"
    quantity = []
    if legacy_compare:
        quantity.append("  compareQuantity: Int")
    if cas_2026:
        quantity.append("  changeFromQuantity: Int")
    return _BASE_SDL % {
        "directives": "directive @idempotent(key: String!) on FIELD" if cas_2026 else "",
        "quantity_cas": "\n".join(quantity),
        "set_ignore": "  ignoreCompareQuantity: Boolean = false" if legacy_compare else "",
        "change_cas": "  changeFromQuantity: Int" if cas_2026 else "",
    }


@cache
def schema_for(version: str) -> GraphQLSchema:
    return build_schema(sdl_for(version))


# -- cost ---------------------------------------------------------------------------------------

Fragments = Mapping[str, FragmentDefinitionNode]
Variables = Mapping[str, Any]


def _argument(node: FieldNode, name: str, variables: Variables) -> Any:
    for arg in node.arguments or ():
        if arg.name.value == name:
            return value_from_ast_untyped(arg.value, dict(variables))
    return None


def skipped(node: FieldNode | InlineFragmentNode | FragmentSpreadNode,
            variables: Variables) -> bool:
    """Whether ``@skip``/``@include`` leave this selection out."""
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        value = None
        for arg in directive.arguments or ():
            if arg.name.value == "if":
                value = value_from_ast_untyped(arg.value, dict(variables))
        if (name == "skip" and value is True) or (name == "include" and value is False):
            return True
    return False


def _is_composite(named: GraphQLNamedType) -> bool:
    return isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)


class CostCalculator:
    """Shopify's documented static cost: an object is 1, a scalar or enum 0, a connection
    2 + ``first`` x the cost of one node, a mutation 10. Selections on an abstract type cost the
    most expensive of their type conditions."""

    def __init__(self, schema: GraphQLSchema, fragments: Fragments, variables: Variables) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def operation(self, operation: OperationDefinitionNode) -> int:
        if operation.operation.value == "mutation":
            return MUTATION_COST * sum(
                1 for sel in operation.selection_set.selections
                if isinstance(sel, FieldNode) and not sel.name.value.startswith("__"))
        root = self.schema.query_type
        assert root is not None
        return self.selections(root, operation.selection_set)

    def selections(self, parent: GraphQLNamedType, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None or not isinstance(parent, GraphQLObjectType |
                                                    GraphQLInterfaceType | GraphQLUnionType):
            return 0
        total = 0
        conditional: dict[str, int] = {}
        for sel in selection_set.selections:
            if skipped(sel, self.variables):  # type: ignore[arg-type]
                continue
            if isinstance(sel, FieldNode):
                total += self.field(parent, sel)
                continue
            if isinstance(sel, InlineFragmentNode):
                type_name = sel.type_condition.name.value if sel.type_condition else parent.name
                sub_selection = sel.selection_set
            else:
                assert isinstance(sel, FragmentSpreadNode)
                fragment = self.fragments.get(sel.name.value)
                if fragment is None:
                    continue
                type_name = fragment.type_condition.name.value
                sub_selection = fragment.selection_set
            target = self.schema.get_type(type_name) or parent
            cost = self.selections(target, sub_selection)
            if type_name == parent.name:
                total += cost
            else:
                conditional[type_name] = conditional.get(type_name, 0) + cost
        return total + max(conditional.values(), default=0)

    def field(self, parent: GraphQLNamedType, node: FieldNode) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", {})
        if name.startswith("__") or name not in fields:
            return 0
        field_type = fields[name].type
        named = get_named_type(field_type)
        if not _is_composite(named):
            return 0
        if named.name.endswith("Connection"):
            size = _argument(node, "first", self.variables)
            if size is None:
                size = _argument(node, "last", self.variables)
            per_node = self.connection_node(named, node.selection_set)
            return 2 + max(0, int(size or 0)) * per_node
        children = self.selections(named, node.selection_set)
        if name == "nodes" and isinstance(get_nullable_type(field_type), GraphQLList):
            ids = _argument(node, "ids", self.variables)
            if isinstance(ids, list):
                return len(ids) * (1 + children)
        return 1 + children

    def connection_node(self, connection: GraphQLNamedType,
                        selection_set: SelectionSetNode | None) -> int:
        """What one node of a connection costs: its ``nodes`` and ``edges { node }``."""
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            if not isinstance(sel, FieldNode) or skipped(sel, self.variables):
                continue
            fields = getattr(connection, "fields", {})
            if sel.name.value == "nodes":
                total += 1 + self.selections(get_named_type(fields["nodes"].type),
                                             sel.selection_set)
            elif sel.name.value == "edges" and sel.selection_set is not None:
                edge = get_named_type(fields["edges"].type)
                for inner in sel.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        node_type = get_named_type(edge.fields["node"].type)
                        total += 1 + self.selections(node_type, inner.selection_set)
        return total


# -- search syntax ------------------------------------------------------------------------------

_TERM = re.compile(
    r"""(?P<neg>-)?(?:(?P<field>[A-Za-z_]+):(?P<op>>=|<=|>|<)?)?"""
    r"""(?P<value>'[^']*'|"[^"]*"|[^\s()]+)""")

Getter = Callable[[Any], Any]


def _compare(actual: Any, op: str, raw: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, list):
        return any(_compare(item, op, raw) for item in actual)
    wanted: Any
    try:
        if isinstance(actual, datetime):
            wanted = parse_time(raw)
        elif isinstance(actual, bool):
            wanted = raw.lower() == "true"
        elif isinstance(actual, int):
            wanted = int(raw)
        elif isinstance(actual, Decimal):
            wanted = Decimal(raw)
        else:
            actual, wanted = str(actual).lower(), raw.lower()
    except ValueError:
        return False
    if op == "":
        if isinstance(wanted, str) and wanted.endswith("*"):
            return str(actual).startswith(wanted[:-1])
        return bool(actual == wanted)
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
    return comparisons[op](actual, wanted)


def compile_search(query: str | None, getters: Mapping[str, Getter],
                   free_text: Getter) -> Callable[[Any], bool]:
    """A predicate for Shopify's search syntax: ``field:value``, ``field:>=value`` (also ``>``,
    ``<``, ``<=``), quoted values, ``-field:value`` or ``NOT`` to negate, terms joined by
    AND (or juxtaposition) and OR; bare words match ``free_text``. Unknown fields are ignored,
    as Shopify ignores them (with a search warning)."""
    groups: list[list[tuple[bool, str | None, str, str]]] = [[]]
    negate_next = False
    for match in _TERM.finditer(query or ""):
        value = match.group("value")
        field_name = match.group("field")
        if field_name is None and value in ("AND", "OR", "NOT"):
            if value == "OR":
                groups.append([])
            negate_next = value == "NOT"
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        negate = bool(match.group("neg")) != negate_next
        negate_next = False
        groups[-1].append((negate, field_name, match.group("op") or "", value))

    def term(item: Any, field_name: str | None, op: str, value: str) -> bool:
        if field_name is None:
            return value.lower() in str(free_text(item) or "").lower()
        getter = getters.get(field_name.lower())
        return True if getter is None else _compare(getter(item), op, value)

    def predicate(item: Any) -> bool:
        return any(all(term(item, f, op, v) != neg for neg, f, op, v in group)
                   for group in groups)

    return predicate


# -- cursors ------------------------------------------------------------------------------------

def encode_cursor(key: tuple[Any, ...]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, ...] | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return tuple(value) if isinstance(value, list) else None
