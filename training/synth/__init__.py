"""Synthetic training data for the embedded tiny prior: dressed anny bodies in random poses and cameras, their
OpenPose condition images and captions built from the same attributes."""
