"""``gankit list``: every dataset, model, objective, recipe and penalty, one line each."""

from __future__ import annotations

from gankit.cli import command


@command("list", help="list datasets, models, objectives, recipes, penalties and augmentations")
def configure(p):
    p.add_argument(
        "kind", nargs="?", default=None, help="only this kind (data, model, loss, recipe, penalty, augment)"
    )

    def run(args):
        from gankit import registries

        kinds = registries.BY_KIND
        chosen = [args.kind] if args.kind else list(kinds)
        for kind in chosen:
            if kind not in kinds:
                from gankit.errors import ConfigError, did_you_mean

                raise ConfigError(
                    f"unknown kind {kind!r}{did_you_mean(kind, kinds)}; choose one of: {', '.join(kinds)}"
                )
            registry = kinds[kind]
            width = max(len(n) for n in registry.names())
            for name in registry.names():
                entry = registry.get(name)
                opts = registry.default_options(name)
                extra = f"  [{', '.join(f'{k}={v}' for k, v in opts.items())}]" if opts else ""
                print(f"{kind:<8} {name:<{width}}  {entry.summary}{extra}")
                for preset in entry.presets:
                    print(f"{'':<8} {'':<{width}}    preset: {preset.describe()}")
        return 0

    return run
