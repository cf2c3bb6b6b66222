"""Routers of the API functions. Each function's handler builds an Api from its own routers only."""
