"""The MCP adapter over `recsys`: tool schemas, errors, transports."""
