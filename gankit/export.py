"""Exported generators: weights as safetensors, the config that rebuilds them as metadata.

``gankit export RUN -o G.safetensors`` writes the generator (its EMA copy when the run keeps
one) of a run's newest good checkpoint. Loading reads tensors and a JSON string only, so a
file from anywhere cannot run code::

    from gankit.export import load_generator
    gen = load_generator("G.safetensors")
    x = gen.sample(1000, seed=0)    # (1000, *sample_shape)

For the plain recipe the file also stores the network spec (sample shape, z_dim, classes), so
loading needs neither the dataset nor its files; other recipes are rebuilt from the config.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.errors import CheckpointError, GankitError

FORMAT = "gankit-generator"
VERSION = "1"


@dataclasses.dataclass
class ExportedGenerator:
    """A rebuilt generator: ``G`` in eval mode, the run's ``config`` and ``kind`` of data."""

    G: nn.Module
    config: Any  # gankit.config.Config
    kind: str
    step: int
    num_classes: int = 0
    recipe: Any = None  # the full recipe when the spec alone could not rebuild G

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples (N, *sample_shape) from noise seeded by ``seed``, on CPU."""
        gen = torch.Generator().manual_seed(seed)
        dev = next(self.G.parameters()).device
        if self.recipe is not None:
            z = self.recipe.noise(n, "cpu", generator=gen).to(dev)
            return self.recipe.sample(z, labels, G=self.G).float().cpu()
        z = torch.randn(n, self.G.z_dim, generator=gen).to(dev)
        if self.num_classes and labels is None:
            labels = torch.arange(n) % self.num_classes
        y = labels.to(dev) if self.num_classes else None
        return self.G(z, y).float().cpu()


def _plain_spec(trainer) -> dict[str, Any] | None:
    """The ModelSpec the plain recipe built G from, as JSON-able data; None for other recipes."""
    if trainer.cfg.recipe != "plain":
        return None
    from gankit.recipes.base import RECIPES, BuildContext
    from gankit.recipes.plain import model_spec

    opts = RECIPES.resolve_options("plain", trainer.cfg.recipe_args)
    num_classes = trainer.dataset.num_classes if opts.conditional else 0
    ctx = BuildContext(trainer.cfg, trainer.dataset, trainer.recipe.objective, opts)
    spec = dataclasses.asdict(model_spec(ctx, num_classes))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in spec.items()}


def export_generator(trainer, path: str | Path, ema: bool = True) -> Path:
    """Write ``trainer``'s generator (the EMA copy if ``ema`` and the run has one) to ``path``."""
    from safetensors.torch import save

    from gankit import config as config_mod
    from gankit.training.checkpoint import atomic_write_bytes
    from gankit.training.runfolder import os_reason

    path = Path(path)
    if path.suffix != ".safetensors":
        raise GankitError(f"output {path} must end in .safetensors")
    G = trainer.sampling_generator() if ema else trainer.recipe.generator()
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in G.state_dict().items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config": json.dumps(config_mod.to_dict(trainer.cfg)),
        "spec": json.dumps(_plain_spec(trainer)),
        "kind": trainer.dataset.kind,
        "step": str(trainer.state.step),
        "images_seen": str(trainer.state.images_seen),  # progress-driven recipes (ProGAN's stage)
        "ema": str(bool(ema and trainer.ema is not None)).lower(),
    }
    # Serialized in memory, then written by Python's own open(): the file gets the usual
    # permissions (0666 less the umask; safetensors' save_file made it 0600) and any failure
    # is an OSError, named in one line.
    data = save(tensors, metadata=meta)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as e:
        why = os_reason(e, path.parent)
        raise GankitError(f"cannot write {path}: {why}; choose another -o in a writable folder") from None
    return path


def read_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a gankit generator file; CheckpointError for anything else."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    if path.suffix in (".pt", ".pth", ".ckpt") or path.parent.name == "checkpoints":
        run = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        raise CheckpointError(
            f"{path} is a training checkpoint, not an exported generator: pass the run folder "
            f"instead (gankit sample {run} ...), or export it first (gankit export {run} -o G.safetensors)"
        )
    try:
        tensors = load_file(str(path), device="cpu")
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({str(e)[:200]})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gankit generator export (made by `gankit export`)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: export version {meta.get('version')!r}; this gankit reads {VERSION}")
    return tensors, meta


def load_generator(path: str | Path, device: str = "cpu") -> ExportedGenerator:
    """Rebuild the generator stored in ``path`` (see :func:`export_generator`)."""
    from gankit import config as config_mod
    from gankit.nets.base import ModelSpec, build_networks

    tensors, meta = read_file(path)
    try:
        cfg_dict = json.loads(meta["config"])
        spec = json.loads(meta.get("spec", "null"))
        step = int(meta.get("step", "0"))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: broken metadata ({e})") from None
    cfg = config_mod.resolve(config_mod.from_dict({**cfg_dict, "device": device}))
    recipe = None
    if spec is not None:
        fields = {f.name for f in dataclasses.fields(ModelSpec)}
        spec = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items() if k in fields}
        G = build_networks(cfg.model, ModelSpec(**spec), cfg.model_args)["G"]
        num_classes = spec.get("num_classes", 0)
    else:  # other recipes: rebuild the whole recipe (may need the dataset's files)
        from gankit.training.trainer import build

        _, recipe = build(cfg)
        recipe.set_progress(step, int(meta.get("images_seen", "0")))
        G = recipe.generator()
        num_classes = 0
    try:
        G.load_state_dict(tensors)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: weights do not fit the model they name ({str(e).splitlines()[0][:200]})"
        ) from None
    G.to(device).eval()
    return ExportedGenerator(G, cfg, meta.get("kind", "points"), step, num_classes, recipe)
