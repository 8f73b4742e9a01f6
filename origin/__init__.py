"""The origin: an aiohttp static file server with validators, Range and
per-pattern Cache-Control, plus synthetic catalog objects."""
