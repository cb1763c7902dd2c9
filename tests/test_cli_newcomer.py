"""The command line as a newcomer meets it: one line and exit 2 instead of tracebacks, no silent
no-ops, help that explains every option, honest messages."""

import json
import os
import stat
from pathlib import Path

import pytest
import torch

from gankit.cli import build_parser, main
from gankit.training.trainer import Trainer

TINY = [
    "--data",
    "8gaussians",
    "--eval-every",
    "2",
    "--n-eval",
    "100",
    "--batch-size",
    "16",
    "--progress",
    "none",
    "--set",
    "model.width=8",
    "--set",
    "model.depth=1",
]


def one_error_line(capsys, *needles: str) -> str:
    """stderr is one 'gankit: error:' line holding every needle, and no traceback."""
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("gankit: error: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def metric_steps(run: Path) -> list[int]:
    return [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "--out", str(run), "--steps", "2", *TINY]) == 0
    return run


# --- out of memory ---------------------------------------------------------------------------
OOM_ERRORS = {
    "cpu-allocator": lambda: RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
        "you tried to allocate 15680000000 bytes."
    ),
    "cuda": lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.57 GiB"),
    "python": lambda: MemoryError(),
}


@pytest.mark.parametrize("kind", sorted(OOM_ERRORS))
def test_out_of_memory_is_one_line_and_the_folder_is_reusable(kind, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    real_step = Trainer.train_step

    def failing_step(self):  # the allocator failing inside the first step, as a huge batch does
        raise OOM_ERRORS[kind]()

    monkeypatch.setattr(Trainer, "train_step", failing_step)
    assert main(["train", "--out", str(run), "--steps", "4", *TINY]) == 2
    one_error_line(capsys, "out of memory", "batch_size=16", "--batch-size 4")
    assert metric_steps(run) == [0]  # the half-made folder: a step-0 row, no checkpoint

    monkeypatch.setattr(Trainer, "train_step", real_step)
    assert main(["train", "--out", str(run), "--steps", "4", *TINY]) == 0
    assert metric_steps(run) == [0, 2, 4]  # the failed attempt's step-0 row is not repeated


def test_other_runtime_errors_are_not_called_out_of_memory(tmp_path, monkeypatch):
    def failing_step(self):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(Trainer, "train_step", failing_step)
    with pytest.raises(RuntimeError, match="shapes"):
        main(["train", "--out", str(tmp_path / "run"), "--steps", "2", *TINY])


# --- unwritable places -----------------------------------------------------------------------
def test_export_to_an_unwritable_place(tiny_run, tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    assert main(["export", str(tiny_run), "-o", str(blocker / "sub" / "G.safetensors")]) == 2
    one_error_line(capsys, f"{blocker} is a file, not a folder")
    if Path("/proc/self").is_dir():  # a read-only file system: safetensors' own writer raised here
        assert main(["export", str(tiny_run), "-o", "/proc/gankit-test.safetensors"]) == 2
        one_error_line(capsys, "cannot write /proc/gankit-test.safetensors")


def test_exported_file_has_the_umask_permissions(tiny_run, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        assert main(["export", str(tiny_run), "-o", str(tmp_path / "G.safetensors")]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "G.safetensors").stat().st_mode) == 0o644


def test_arena_out_in_an_unwritable_place(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    argv = ["arena", "--data", "ring", "--losses", "ns", "--seeds", "1", "--steps", "2"]
    assert main([*argv, "--out", str(blocker / "arena")]) == 2
    one_error_line(capsys, "arena folder", f"{blocker} is a file, not a folder", "--out")


# --- silent no-ops ---------------------------------------------------------------------------
def test_steps_0_evaluates_the_untrained_generator_and_says_so(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--steps", "0", *TINY]) == 0
    out = capsys.readouterr().out
    assert "steps=0: nothing trained" in out and "modes_total" in out
    assert metric_steps(run) == [0]
    assert (run / "pictures" / "latest.png").exists()
    # the step-0 checkpoint resumes like any other: no second step-0 row
    assert main(["train", "--resume", str(run), "--steps", "2"]) == 0
    assert metric_steps(run) == [0, 2]


@pytest.mark.parametrize("steps", ["1", "2"])
def test_resume_to_a_step_already_reached_is_refused(tiny_run, steps, capsys):
    before = (tiny_run / "config.json").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(tiny_run), "--steps", steps]) == 2
    one_error_line(capsys, f"--steps {steps}", "step 2", "above 2")
    assert (tiny_run / "config.json").read_bytes() == before
    assert main(["train", "--resume", str(tiny_run)]) == 2  # no --steps: the run is finished
    one_error_line(capsys, "already reached its steps=2", "above 2")
    assert (tiny_run / "config.json").read_bytes() == before


# --- help, version, hints --------------------------------------------------------------------
def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices


def test_every_option_of_every_command_explains_itself(capsys):
    for name, p in _subparsers().items():
        for action in p._actions:
            if action.dest == "help":
                continue
            assert action.help and len(action.help) > 10, (name, action.option_strings)
            assert "default: None" not in action.help, (name, action.option_strings, action.help)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text
    assert "one of adam, rmsprop, sgd" in text and "one of stop, rollback" in text
    assert "from the preset/recommended defaults" in text
    flat = " ".join(text.split())
    for names in ("began, fgan-gan", "wgan, wgan-gp", "dcgan, lucic, mlp", "cyclegan, gaussian-fit, infogan"):
        assert names in flat, names  # the registered names of --loss, --model, --recipe
    assert "dragan, drift, gp, gp-one-sided, r1" in flat and "25gaussians, 8gaussians" in flat


def test_version(capsys, monkeypatch):
    from importlib import metadata

    import gankit
    from gankit.cli import version

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"gankit {version()}\n"

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)  # run from a source tree, not installed
    assert version() == gankit.__version__


def test_unknown_command_hint_names_gankit_once(capsys):
    with pytest.raises(SystemExit) as e:
        main(["nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "(see gankit --help)" in err and "gankit gankit" not in err
    with pytest.raises(SystemExit):
        main(["eval"])
    assert "(see gankit eval --help)" in capsys.readouterr().err


def test_list_summaries_are_whole_sentences(capsys):
    from gankit.registry import first_sentence

    assert main(["list", "recipe"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.split()[1] == "infogan")
    assert "in both players' losses (Chen et al. 2016)." in line
    doc = "Drift term (Karras et al. 2018, sec. A.1; eps 0.001).\n\n    More text. Even more."
    assert first_sentence(doc) == "Drift term (Karras et al. 2018, sec. A.1; eps 0.001)."
    assert first_sentence("One line\n    two lines. Next sentence.") == "One line two lines."


# --- sample ----------------------------------------------------------------------------------
def test_sample_says_what_was_drawn_and_what_is_shown(capsys):
    from gankit.viz.samples import wrote_line

    assert wrote_line("images", 1000, Path("s.png")) == (
        "drew 1000 samples; s.png shows the first 400 (write .npy to keep all 1000)"
    )
    assert wrote_line("images", 1000, Path("s.npy")) == "wrote 1000 samples to s.npy"
    assert wrote_line("images", 300, Path("s.png")) == "wrote 300 samples to s.png"
    assert wrote_line("points", 5000, Path("s.png")) == "wrote 5000 samples to s.png"
    assert wrote_line("curves", 100, Path("c.png")).startswith("drew 100 samples; c.png shows the first 64")


def test_weights_given_a_checkpoint_points_to_the_run_folder(tiny_run, tmp_path, capsys):
    pt = sorted((tiny_run / "checkpoints").glob("*.pt"))[-1]
    assert main(["sample", "--weights", str(pt), "-n", "4", "-o", str(tmp_path / "s.npy")]) == 2
    one_error_line(capsys, "training checkpoint", f"gankit sample {tiny_run}", "gankit export")


def test_out_of_memory_outside_training_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    def huge(self, n, seed=0, y=None):
        raise RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 8e10 bytes.")

    monkeypatch.setattr(Trainer, "sample", huge)
    assert main(["sample", str(tiny_run), "-n", "10000000", "-o", str(tmp_path / "s.npy")]) == 2
    one_error_line(capsys, "out of memory", "a smaller -n")
