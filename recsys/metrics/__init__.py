"""Stage 3: ranking metrics and top-k, below training (its validation) and everything above."""
