"""`dreamavatar batch`: many avatars from one prompt set, each a normal run directory made by `dreamavatar generate`
(then, if asked, `animate` and `export`), in parallel on Ray or one after another in this process.

    DIR/NAME/            one run directory per prompt (config.yaml, checkpoints/, previews/, turntable.mp4, run.json)
    DIR/logs/NAME.log    everything the prompt's commands wrote to stdout and stderr
    DIR/sheet/NAME.*.png its front and back views, cropped from the run's last preview
    DIR/index.html       the contact sheet (offline: relative links only); DIR/summary.json the same facts

A prompt whose steps are all done is skipped; an unfinished run directory is continued with `generate --resume`, so a
killed batch run again loses nothing but the steps since each run's last checkpoint.

With Ray (the `cluster` extra) each prompt is one Ray task with its own resources (`num_cpus`, and `num_gpus` for the
Stable Diffusion preset) that runs each step as a child process, `python -m dreamavatar.batch.child ARGS` (the same
command line as a user's `dreamavatar ARGS`). A child process rather than a call in the Ray worker because:
a crash, an out-of-memory kill or a leaked CUDA context ends that prompt only, and the next task on the same (reused)
worker starts clean; torch's thread count is set per task (OMP_NUM_THREADS = num_cpus) before torch loads; the Ray
worker itself stays light (it never imports torch); and stopping a task is the signal a user's Ctrl-C sends, so the
trainer saves a checkpoint exactly as an interrupted `generate` does. The price is a process start per step (python,
torch, the body model and the prior load again: a few seconds against minutes of training;
`benchmarks/bench_batch.py` measures it).

Modules: `jobs` (a prompt's job and what is done on disk; light, imported by the Ray workers), `plan` (the prompt set
read and checked into jobs), `task` (one job run: child processes or in-process), `child` (a child's entry point),
`local` and `cluster` (the two ways to run the jobs), `progress` (the overall bar), `sheet` (index.html and
summary.json).
"""
