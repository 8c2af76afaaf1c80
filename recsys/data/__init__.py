"""Stage 1, files -> dataset: MovieLens files of every format read into one normalised `Dataset`.

`dataset` (the schema and `load_dataset`), `parsing` (the shared line-level
reader), one module per file family (`ml1m`, `ml100k`, `csv_family`),
`vocab` (genres, ages, occupations every stage speaks), `download` (the
GroupLens registry and cache), `paths` (where the embedded dataset and the
shipped model live), `synthetic` (test and benchmark data with planted tastes).
"""
