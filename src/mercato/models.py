"""Every table, imported in one place for Alembic and for tests that inspect the schema."""

# modules whose tables register on import (their names are not re-exported here)
import mercato.catalog.market
import mercato.catalog.reviews.models
import mercato.channels.models
import mercato.checkout.cart.models
import mercato.checkout.pricing.models
import mercato.checkout.promotions.models
import mercato.checkout.shipping.models
import mercato.checkout.tax.models
import mercato.core.inbound
import mercato.digital.models
import mercato.notifications.models
import mercato.payments.models
import mercato.plugins.models
import mercato.webhooks.models
import mercato.workflows.models  # noqa: F401
from mercato.catalog.models import (
    Category,
    Collection,
    ImportJob,
    ImportRowError,
    Product,
    ProductCollection,
    ProductFacet,
    ProductFacetSet,
    ProductSearch,
    ProductType,
    Variant,
)
from mercato.core.idempotency_keys import IdempotencyKey
from mercato.core.outbox import OutboxDelivery, OutboxEvent
from mercato.identity.customers.models import Customer, CustomerAddress, CustomerEmail
from mercato.identity.models import (
    ApiKey,
    AuditEntry,
    CustomerAccount,
    CustomerToken,
    LoginFailure,
    RefreshToken,
    StaffSignIn,
    StaffUser,
)
from mercato.inventory.models import (
    ChannelBuffer,
    ChannelLocation,
    ChannelStock,
    ImportedStock,
    ImportedStockFile,
    Location,
    PurchaseOrder,
    PurchaseOrderLine,
    Reservation,
    ReservationLine,
    SalesChannel,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
)
from mercato.orders.models import (
    Allocation,
    Fulfillment,
    Order,
    OrderLine,
    OrderNumber,
    Refund,
    Return,
    ShippingLine,
)
from mercato.payments.models import Payment
from mercato.tenancy.models import Organization, OrganizationDomain

__all__ = [
    "Allocation",
    "ApiKey",
    "AuditEntry",
    "Category",
    "ChannelBuffer",
    "ChannelLocation",
    "ChannelStock",
    "Collection",
    "Customer",
    "CustomerAccount",
    "CustomerAddress",
    "CustomerEmail",
    "CustomerToken",
    "Fulfillment",
    "IdempotencyKey",
    "ImportJob",
    "ImportRowError",
    "ImportedStock",
    "ImportedStockFile",
    "Location",
    "LoginFailure",
    "Order",
    "OrderLine",
    "OrderNumber",
    "Organization",
    "OrganizationDomain",
    "OutboxDelivery",
    "OutboxEvent",
    "Payment",
    "Product",
    "ProductCollection",
    "ProductFacet",
    "ProductFacetSet",
    "ProductSearch",
    "ProductType",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "RefreshToken",
    "Refund",
    "Reservation",
    "ReservationLine",
    "Return",
    "SalesChannel",
    "ShippingLine",
    "StaffSignIn",
    "StaffUser",
    "StockCount",
    "StockCountLine",
    "StockLevel",
    "StockMovement",
    "Transfer",
    "TransferLine",
    "Variant",
]
