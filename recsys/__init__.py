"""movierec's library: MovieLens data, a two-tower recommender, its index and queries.

Usable from Python without MCP; the `server` package adapts it to MCP. One
subpackage per stage, data flowing one way (tests/test_layering.py enforces it):

    data -> features -> metrics -> model -> ranking -> training -> bundle -> serving
                                                                         \\-> evaluation
    commands (train, evaluate, data) chain the stages for the command line.
"""

__version__ = "0.5.0"
