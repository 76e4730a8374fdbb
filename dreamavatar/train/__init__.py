"""Training an avatar (`dreamavatar generate`): the trainer of stages 1 and 2 (`trainer`) and the body-silhouette
terms (`shape`). Only the `generate` command, tests and benchmarks import this package; inference (loading, animating,
composing, exporting) stands on `dreamavatar.render`, `dreamavatar.run_config` and `dreamavatar.run_dir`."""
