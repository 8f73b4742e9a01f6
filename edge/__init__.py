"""The edge cache: a pure RFC 9111 policy core, a byte-capacity store with
eviction policies, and the aiohttp reverse proxy built around them."""
