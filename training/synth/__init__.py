"""The synthetic wardrobe: training data for the embedded tiny prior. Dressed anny bodies (realistic adults and
children) in random poses and cameras, drawn from random outfit-and-body specs (`prompts.spec.Spec`), with their
OpenPose condition images; readers that check an image against its spec (`metrics`). See `dataset` for the chunk
contents, `specs` for the spec distribution and the held-out split, `garments` and `shading` for how it is drawn."""

from training.synth.dataset import SynthConfig, SynthGenerator, load_chunks, write_chunks
from training.synth.specs import sample_spec

__all__ = ["SynthConfig", "SynthGenerator", "load_chunks", "sample_spec", "write_chunks"]
