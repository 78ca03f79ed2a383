"""HTTP shapes of product reviews: what shoppers write and see, what staff moderate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

ReviewStatus = Literal["pending", "approved", "rejected"]
Rating = Annotated[int, Field(ge=1, le=5, strict=True, description="Stars, 1 to 5.")]
Average = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    rating: Rating
    title: str | None = Field(default=None, max_length=200)
    body: str = Field(min_length=1, max_length=5000)
    author_name: str | None = Field(default=None, min_length=1, max_length=100, description=(
        "Shown with the review; the customer's first name and last initial when omitted."))


class ReviewEdit(BaseModel):
    """A shopper's change to their own review; it goes back to moderation."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    rating: Rating | None = None
    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=5000)
    author_name: str | None = Field(default=None, min_length=1, max_length=100)


class Moderation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    status: ReviewStatus = Field(description="`approved` shows it to shoppers, `rejected` hides "
                                 "it; `pending` puts it back in the queue.")
    note: str | None = Field(default=None, max_length=2000,
                             description="Why; kept for staff, never shown to shoppers.")


class PublicReview(BaseModel):
    """A review as shoppers see it: no customer id, no moderation details."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    rating: int
    title: str | None
    body: str
    author_name: str
    verified_purchase: bool = Field(description="The author has an order with this product.")
    created_at: dt.datetime
    updated_at: dt.datetime


class OwnReview(PublicReview):
    """The signed-in shopper's own review, with where moderation stands."""

    status: ReviewStatus


class ReviewOut(OwnReview):
    """A review as staff see it."""

    product_id: str
    customer_id: str
    moderation_note: str | None
    moderated_at: dt.datetime | None
    moderated_by: str | None = Field(description="The staff member or API key that moderated.")


class RatingSummary(BaseModel):
    count: int = Field(description="Approved reviews.")
    average_rating: Average | None = Field(description="Mean stars of approved reviews, two "
                                           "decimals; null without any.")
    distribution: dict[str, int] = Field(description="Approved reviews per star, \"1\" to \"5\".")


class ReviewPage(BaseModel):
    """Approved reviews, newest first, with the product's rating summary."""

    data: list[PublicReview]
    next_cursor: str | None
    summary: RatingSummary
