"""Stage 7, trained model -> bundle: one verified directory the server answers from.

`manifest` (layout, checksums, dataset fingerprint), `index` (the Annoy index
over the movie embeddings), `tables` (the catalogue and users as CSV),
`write` (atomic writing), `load` (verified loading, without torch).
"""
