"""Training the embedded tiny prior (not shipped in the wheel): the synthetic data generator and the training script.

Run from the repository root: `.venv/bin/python -m training.train_tiny_prior`."""
