"""movierec's library: MovieLens data, a two-tower recommender, its index and queries.

Usable from Python without MCP; the `server` package adapts it to MCP.
"""

__version__ = "0.1.0"
