"""The commands, on top of every stage: `train` (fit, then write a bundle), `evaluate`
(protocols and report), `data` (download, list, info). Each takes one config object; the
command line is parsed in `server.cli`, which also sets process-wide state."""
