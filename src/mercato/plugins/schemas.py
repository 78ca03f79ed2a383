"""HTTP shapes of the plugins API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PluginOut(BaseModel):
    """An installed plugin, and this organization's state of it."""

    name: str
    version: str
    description: str
    hooks: list[str] = Field(description="The `before_*` hook points it runs at.")
    events: list[str] = Field(description="The event types its `after` hooks run on.")
    permissions: list[str] = Field(
        description="What a staff member must hold to enable it, and its routes require.")
    settings_schema: dict[str, Any] = Field(
        description="The JSON Schema `config` must satisfy.")
    has_routes: bool = Field(description="Whether it serves `/api/v1/plugins/{name}/...`.")
    enabled: bool = Field(description="Whether it runs for this organization.")
    config: dict[str, Any]
    priority: int = Field(description="Lower runs first; ties in name order.")


class PluginIn(BaseModel):
    """Enable (or disable) and configure a plugin for this organization."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool
    config: dict[str, Any] = Field(default_factory=dict, description=(
        "Validated against the plugin's `settings_schema` (422 naming each field)."))
    priority: int | None = Field(None, ge=-1000, le=1000, description=(
        "Lower runs first; unset keeps the current one (the plugin's default at first)."))
