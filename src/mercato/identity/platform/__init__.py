"""The platform operator's API (``/api/platform/v1``): sign-in and organizations (create, list,
plan and limits, suspend, reactivate). Outside every organization: its routes accept operator
tokens only, and an operator token opens no organization's routes."""
