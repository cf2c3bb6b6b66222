"""HTTP edge: the powertools resolver, error mapping and the routers of each API function."""
