"""Stage 8, bundle -> answers: what the MCP tools call, usable from Python without MCP.

`recommender` (`Recommender`, the use cases), `catalogue` (movie facts and
resolving what a person calls a movie), `titles` (the title search index),
`filters` (filters and shortfall notes), `wording` (the reason beside each
movie), `inputs` (checking counts, ages, genders), `results` (the frozen
result types), `errors` (what a request can be refused with).
"""
