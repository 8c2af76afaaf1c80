"""Stage 4, features -> model: the two towers and how they answer queries.

`config` (`ModelConfig`, torch-free, saved with every model), `vectors`
(unit rows, the norm coordinate), `itemitem` (the closed-form item-item
part), `blend` (joining it to the trained part), `user_tower` (the numpy
forward pass), `files` (a saved model's files), `query_model` (embedding and
scoring queries; `ServingModel` serves without torch), `towers` (the torch
network and `TrainedModel`; the only module here that imports torch).
"""
