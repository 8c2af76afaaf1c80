"""Stage 6, model -> trained model: `fit` and what it is made of.

`config` (`TrainConfig`, grouped), `examples` (how each step's examples are
drawn), `loop` (the softmax objective, weight averaging, early stopping),
`validation` (held-out users that pick the epoch count and the item-item
blend), `calibrate` (scores as chances, fitted on those users), `fit` (the
whole run, with the ranking artifacts), `process` (process-wide settings, for
entry points only).
"""
