"""Product reviews: signed-in shoppers write one per product, staff moderate, shoppers see the
approved ones with the product's average rating.

A review starts ``pending``; only ``approved`` ones are shown. One per (customer, product): the
unique constraint decides, so two tabs submitting at once make one review and one 409. A
shopper's edit sends the review back to moderation. ``verified_purchase`` is decided when the
review is written or edited: the customer has an order, not cancelled, with a variant of the
product.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mercato.catalog import ports, service, store
from mercato.catalog.models import Product, Variant
from mercato.catalog.reviews.models import Review
from mercato.catalog.reviews.schemas import Moderation, RatingSummary, ReviewEdit, ReviewIn
from mercato.core.db import add_unique, require_owned, utcnow
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.outbox import record_event
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.identity import get_customer

NEWEST = [(Review.created_at, True), (Review.id, True)]
ALREADY = "You have reviewed this product already; change your review instead."


# -- lookups --------------------------------------------------------------------------------

def published_product_id(session: Session, slug: str) -> str:
    """The id of the product the storefront publishes under ``slug``; 404 otherwise."""
    product_id = session.scalar(select(Product.id).where(
        Product.slug == slug, *service.filter_conditions(session, store.published_filters())))
    if product_id is None:
        raise NotFound(f"No product {slug!r}.")
    return product_id


def has_bought(session: Session, customer_id: str, product_id: str) -> bool:
    """The customer has an order (not cancelled) with a line of one of the product's
    variants (asked of orders through ``catalog.ports``)."""
    variants = session.scalars(select(Variant.id).where(Variant.product_id == product_id)).all()
    return ports.has_purchased(session, customer_id, variants)


def default_author(session: Session, customer_id: str) -> str:
    """"Alice L.": a first name and an initial, never the full name or the email."""
    customer = get_customer(session, customer_id)
    first = (customer.first_name or "").strip()
    last = (customer.last_name or "").strip()
    if not first:
        return "Customer"
    return f"{first} {last[0]}." if last else first


def _event(session: Session, event_type: str, review: Review, **data: Any) -> None:
    record_event(session, event_type, resource_type="review", resource_id=review.id, data={
        "review": {"id": review.id, "product_id": review.product_id,
                   "customer_id": review.customer_id, "rating": review.rating,
                   "status": review.status, "verified_purchase": review.verified_purchase},
        **data})


# -- shoppers -------------------------------------------------------------------------------

def create_review(session: Session, *, customer_id: str, product_id: str,
                  data: ReviewIn) -> Review:
    """A pending review; 409 (naming the existing ``review_id``) when this customer reviewed
    this product already. The unique constraint settles concurrent twins."""
    existing = session.scalar(select(Review.id).where(Review.customer_id == customer_id,
                                                      Review.product_id == product_id))
    if existing is not None:
        raise Conflict(ALREADY, errors=[{"field": "product", "message": "reviewed already"}],
                       extra={"review_id": existing})
    review = Review(product_id=product_id, customer_id=customer_id, rating=data.rating,
                    title=data.title or None, body=data.body,
                    author_name=data.author_name or default_author(session, customer_id),
                    status="pending",
                    verified_purchase=has_bought(session, customer_id, product_id))
    add_unique(session, review, field="product", detail=ALREADY)
    _event(session, "review.created", review)
    return review


def own_review(session: Session, customer_id: str, review_id: str) -> Review:
    """One of this customer's reviews; another customer's is a 404 like a missing one."""
    review = session.scalar(select(Review).where(Review.id == review_id,
                                                 Review.customer_id == customer_id))
    if review is None:
        raise NotFound("Review not found.")
    return review


def edit_review(session: Session, review: Review, data: ReviewEdit) -> Review:
    """The shopper's change: back to ``pending`` for moderation."""
    values = data.model_dump(exclude_unset=True)
    for name in ("rating", "body", "author_name"):
        if name in values and values[name] is None:
            raise ValidationFailed(f"{name} cannot be null.",
                                   errors=[{"field": name, "message": "cannot be null"}])
    for name, value in values.items():
        setattr(review, name, (value or None) if name == "title" else value)
    review.status = "pending"
    review.moderated_at = review.moderated_by = review.moderation_note = None
    review.verified_purchase = has_bought(session, review.customer_id, review.product_id)
    review.updated_at = utcnow()
    _event(session, "review.updated", review)
    return review


def delete_review(session: Session, review: Review) -> None:
    _event(session, "review.deleted", review)
    session.delete(review)


def approved_reviews(session: Session, product_id: str, params: PageParams, *,
                     rating: int | None = None) -> Slice[Review]:
    """What shoppers see: approved reviews, newest first."""
    stmt = select(Review).where(Review.product_id == product_id, Review.status == "approved")
    if rating is not None:
        stmt = stmt.where(Review.rating == rating)
    return paginate(session, stmt, NEWEST, params)


def rating_summary(session: Session, product_id: str) -> RatingSummary:
    """Count, mean (two decimals, half-even, from integer sums: no float drift) and stars."""
    counts = {str(stars): 0 for stars in range(1, 6)}
    for stars, count in session.execute(
            select(Review.rating, func.count()).where(Review.product_id == product_id,
                                                      Review.status == "approved")
            .group_by(Review.rating)):
        counts[str(stars)] = int(count)
    total = sum(counts.values())
    stars_sum = sum(int(stars) * count for stars, count in counts.items())
    average = (Decimal(stars_sum) / Decimal(total)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN) if total else None
    return RatingSummary(count=total, average_rating=average, distribution=counts)


# -- staff ----------------------------------------------------------------------------------

def list_reviews(session: Session, params: PageParams, *, status: str | None = None,
                 product_id: str | None = None, customer_id: str | None = None,
                 rating: int | None = None, verified: bool | None = None) -> Slice[Review]:
    """The moderation queue and history, newest first."""
    stmt = select(Review)
    if status:
        stmt = stmt.where(Review.status == status)
    if product_id:
        stmt = stmt.where(Review.product_id == product_id)
    if customer_id:
        stmt = stmt.where(Review.customer_id == customer_id)
    if rating is not None:
        stmt = stmt.where(Review.rating == rating)
    if verified is not None:
        stmt = stmt.where(Review.verified_purchase.is_(verified))
    return paginate(session, stmt, NEWEST, params)


def get_review(session: Session, review_id: str) -> Review:
    return require_owned(session, Review, review_id, "Review")


def moderate(session: Session, review: Review, data: Moderation, *, moderator: str) -> Review:
    """Approve, reject (or re-queue) with a note; who and when are kept."""
    previous = review.status
    review.status = data.status
    review.moderation_note = data.note or None
    review.moderated_at = utcnow()
    review.moderated_by = moderator
    _event(session, "review.moderated", review, previous_status=previous)
    return review
