"""Product reviews: shoppers write them, staff moderate them, the storefront shows the approved
ones with a rating summary."""
