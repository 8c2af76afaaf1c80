"""Stage 5, model -> trained model: `fit` and what it is made of.

`config` (`TrainConfig`, grouped), `examples` (how each step's examples are
drawn), `loop` (the softmax objective, weight averaging, early stopping),
`validation` (held-out users that pick the epoch count and the item-item
blend), `fit` (the whole run), `process` (process-wide settings, for entry
points only).
"""
