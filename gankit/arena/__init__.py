"""The arena: every objective on the same data, model, budget and seeds, ranked in one report."""

from gankit.arena.report import write_report
from gankit.arena.results import collect, parse_target, write_json
from gankit.arena.runner import ArenaSpec, parse_losses, run_arena

__all__ = ["ArenaSpec", "collect", "parse_losses", "parse_target", "run_arena", "write_json", "write_report"]


def arena(spec: ArenaSpec, target: str | None = None, log=print, drop_unfit: bool = False) -> dict:
    """Train what is missing, then write results.json, summary.png and report.html into spec.out;
    ``drop_unfit`` leaves out objectives the model cannot serve (for ``--losses all``). Objectives
    trained into spec.out earlier but not listed now stay in the results (not retrained)."""
    import dataclasses
    from pathlib import Path

    from gankit.arena.runner import earlier_losses

    tgt = parse_target(target)
    run_arena(spec, log=log, drop_unfit=drop_unfit)
    earlier = earlier_losses(spec)
    if earlier:
        log(
            f"arena: keeping the earlier results of {', '.join(earlier)} in {spec.out} (not retrained; "
            "list them in --losses to train them further)"
        )
    results = collect(dataclasses.replace(spec, losses=[*spec.losses, *earlier]), tgt)
    write_json(Path(spec.out) / "results.json", results)
    write_report(results, spec.out)
    return results
