"""``gankit export RUN -o G.safetensors``: a run's generator as a file that loads without code."""

from __future__ import annotations

from gankit.cli import command


@command("export", help="write a run's generator (EMA copy if any) as safetensors plus its config")
def configure(p):
    p.add_argument("run", metavar="RUN", help="run folder (its newest good checkpoint is exported)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.safetensors", help="output file")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator, not its EMA copy")

    def run(args):
        from gankit.cli.run_commands import load_run
        from gankit.export import export_generator

        trainer = load_run(args.run, "cpu")
        path = export_generator(trainer, args.output, ema=not args.no_ema)
        which = "EMA generator" if trainer.ema is not None and not args.no_ema else "generator"
        print(f"wrote the {which} of {args.run} at step {trainer.state.step} to {path}")
        print(f"sample from it with: gankit sample --weights {path} -n 1000 -o samples.png")
        return 0

    return run
