"""Saved views: named query strings of the console's list pages, own or shared (``/v1/views``)."""

from cxloop.views.controller import ViewsController

__all__ = ["ViewsController"]
