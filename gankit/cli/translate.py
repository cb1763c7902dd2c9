"""``gankit translate RUN INPUT... -o OUTDIR``: image files through a CycleGAN run's generators."""

from __future__ import annotations

from pathlib import Path

from gankit.cli import command
from gankit.errors import GankitError


def read_image(path: Path, size: int, channels: int):
    """One image file -> float (1, C, size, size) in [-1, 1], prepared as the run's training data."""
    import torch

    from gankit.data.folder import UNREADABLE, decode_image
    from gankit.data.images import to_float

    try:
        arr = decode_image(path, size, channels, "white")
    except FileNotFoundError:
        raise GankitError(f"input image {path} does not exist") from None
    except UNREADABLE as e:
        raise GankitError(f"cannot read image {path}: {type(e).__name__}: {str(e)[:120]}") from None
    return to_float(torch.from_numpy(arr.copy())).unsqueeze(0)


def write_image(x, path: Path) -> None:
    """float (C, H, W) in [-1, 1] -> PNG."""
    from PIL import Image

    from gankit.data.images import to_uint8

    a = to_uint8(x).numpy()
    img = Image.fromarray(a[0], "L") if a.shape[0] == 1 else Image.fromarray(a.transpose(1, 2, 0), "RGB")
    try:
        img.save(path)
    except OSError as e:
        raise GankitError(f"cannot write {path}: {e.strerror or e}") from None


@command("translate", help="translate image files with a CycleGAN run (A to B or B to A)")
def configure(p):
    p.add_argument("run", metavar="RUN", help="run folder of a cyclegan run")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="image files (PNG, JPEG, WebP)")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="folder for the translated PNGs")
    p.add_argument(
        "--direction",
        choices=("AtoB", "BtoA"),
        default="AtoB",
        help="AtoB: domain A to B with G_AB (default); BtoA: B to A with G_BA",
    )
    p.add_argument(
        "--device",
        default=None,
        help="device to run on: auto (a GPU when there is one; default), cpu, cuda or cuda:N",
    )

    def run(args):
        import torch

        from gankit.cli.run_commands import load_run

        trainer = load_run(args.run, args.device)
        translate = getattr(trainer.recipe, "translate", None)
        if translate is None:
            raise GankitError(
                f"{args.run} is a {trainer.cfg.recipe!r} run; gankit translate needs a cyclegan run"
            )
        ds = trainer.dataset
        shape = ds.sample_shape if args.direction == "AtoB" else ds.sample_shape_b
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GankitError(f"cannot create {out}: {e.strerror}") from None
        G = trainer.sampling_generator()
        G.eval()
        target = "B" if args.direction == "AtoB" else "A"
        written = set()
        for name in args.inputs:
            path = Path(name)
            x = read_image(path, shape[-1], shape[0])
            with torch.no_grad():
                y = translate(x.to(trainer.device), args.direction, G=G).float().cpu()[0]
            dest = out / f"{path.stem}-to{target}.png"
            k = 1
            while dest in written:  # same stem from different folders
                dest = out / f"{path.stem}-{k}-to{target}.png"
                k += 1
            written.add(dest)
            write_image(y, dest)
        print(f"wrote {len(written)} images ({args.direction}) to {out}")
        return 0

    return run
