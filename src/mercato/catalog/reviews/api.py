"""Product reviews: shoppers write them, staff moderate them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato.catalog.reviews import service as reviews
from mercato.catalog.reviews.models import Review
from mercato.catalog.reviews.schemas import (
    Moderation,
    OwnReview,
    PublicReview,
    ReviewEdit,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    ReviewStatus,
)
from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import Shopper
from mercato.identity.deps import current_customer
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

router = APIRouter(route_class=MercatoRoute, tags=["reviews"])  # under catalog's /api/v1
store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])
MODERATE = require("reviews:moderate")
ONE_PER_PRODUCT: dict[int | str, dict[str, Any]] = {409: {"description": (
    "This customer reviewed this product already (`review_id` names it): PATCH "
    "`/store/v1/{store}/me/reviews/{review_id}` instead")}}


# -- storefront -----------------------------------------------------------------------------

@store_router.get("/products/{slug}/reviews", response_model=ReviewPage,
                  summary="Approved reviews of a product, newest first, with its rating")
def list_product_reviews(
    slug: str, *, store: Store = Depends(current_store), params: PageParams = Depends(page_params),
    rating: int | None = Query(None, ge=1, le=5, description="Only reviews with these stars."),
    session: DbSession,
) -> ReviewPage:
    product_id = reviews.published_product_id(session, slug)
    page = reviews.approved_reviews(session, product_id, params, rating=rating)
    return ReviewPage(data=[PublicReview.model_validate(r) for r in page.items],
                      next_cursor=page.next_cursor,
                      summary=reviews.rating_summary(session, product_id))


@store_router.post("/products/{slug}/reviews", response_model=OwnReview,
                   status_code=status.HTTP_201_CREATED, responses=ONE_PER_PRODUCT,
                   summary="Review a product (signed-in customers; shown once approved)")
def create_product_review(slug: str, body: ReviewIn, *, store: Store = Depends(current_store),
                          shopper: Shopper = Depends(current_customer),
                          session: DbSession) -> OwnReview:
    product_id = reviews.published_product_id(session, slug)
    review = reviews.create_review(session, customer_id=shopper.customer_id,
                                   product_id=product_id, data=body)
    return OwnReview.model_validate(review)


@store_router.get("/me/reviews", response_model=Page[OwnReview],
                  summary="The signed-in customer's reviews, any status, newest first")
def list_my_reviews(*, store: Store = Depends(current_store),
                    params: PageParams = Depends(page_params),
                    shopper: Shopper = Depends(current_customer),
                    session: DbSession) -> Page[OwnReview]:
    return reviews.list_reviews(session, params,
                                customer_id=shopper.customer_id).to_page(OwnReview)


@store_router.get("/me/reviews/{review_id}", response_model=OwnReview,
                  summary="One of the signed-in customer's reviews")
def get_my_review(review_id: str, *, store: Store = Depends(current_store),
                  shopper: Shopper = Depends(current_customer),
                  session: DbSession) -> OwnReview:
    return OwnReview.model_validate(reviews.own_review(session, shopper.customer_id,
                                                       review_id))


@store_router.patch("/me/reviews/{review_id}", response_model=OwnReview,
                    summary="Change your review; it goes back to moderation")
def edit_my_review(review_id: str, body: ReviewEdit, *, store: Store = Depends(current_store),
                   shopper: Shopper = Depends(current_customer),
                   session: DbSession) -> OwnReview:
    review = reviews.own_review(session, shopper.customer_id, review_id)
    return OwnReview.model_validate(reviews.edit_review(session, review, body))


@store_router.delete("/me/reviews/{review_id}", status_code=status.HTTP_204_NO_CONTENT,
                     summary="Withdraw your review")
def delete_my_review(review_id: str, *, store: Store = Depends(current_store),
                     shopper: Shopper = Depends(current_customer),
                     session: DbSession) -> Response:
    reviews.delete_review(session, reviews.own_review(session, shopper.customer_id, review_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- staff ----------------------------------------------------------------------------------

def review_out(response: Response, review: Review) -> ReviewOut:
    set_etag(response, review)
    return ReviewOut.model_validate(review)


@router.get("/reviews", response_model=Page[ReviewOut],
            summary="Reviews to moderate and moderated, newest first")
def list_reviews(
    *, params: PageParams = Depends(page_params),
    status_: ReviewStatus | None = Query(None, alias="status"),
    product_id: str | None = Query(None, max_length=26),
    customer_id: str | None = Query(None, max_length=26),
    rating: int | None = Query(None, ge=1, le=5),
    verified: bool | None = Query(None, description="Verified purchases only (or not)."),
    _: Principal = Depends(MODERATE), session: DbSession,
) -> Page[ReviewOut]:
    return reviews.list_reviews(session, params, status=status_, product_id=product_id,
                                customer_id=customer_id, rating=rating,
                                verified=verified).to_page(ReviewOut)


@router.get("/reviews/{review_id}", response_model=ReviewOut)
def get_review(review_id: str, response: Response, *, _: Principal = Depends(MODERATE),
               session: DbSession) -> ReviewOut:
    return review_out(response, reviews.get_review(session, review_id))


@router.patch("/reviews/{review_id}", response_model=ReviewOut,
              summary="Approve or reject a review, with a note (If-Match supported)")
def moderate_review(review_id: str, body: Moderation, request: Request, response: Response,
                    *, principal: Principal = Depends(MODERATE),
                    session: DbSession) -> ReviewOut:
    review = reviews.get_review(session, review_id)
    check_if_match(request, review)
    reviews.moderate(session, review, body, moderator=principal.id)
    session.flush()
    return review_out(response, review)


@router.delete("/reviews/{review_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_review(review_id: str, request: Request, *, _: Principal = Depends(MODERATE),
                  session: DbSession) -> Response:
    review = reviews.get_review(session, review_id)
    check_if_match(request, review)
    reviews.delete_review(session, review)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
