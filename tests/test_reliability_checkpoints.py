"""Checkpoint rotation next to corrupt checkpoints: a corrupt one is set aside (``*.corrupt``) and
never counts among the kept ones, and rotation never deletes the newest good checkpoint."""

from __future__ import annotations

import pytest
from test_reliability import fast, tiny  # noqa: F401  (fast: fixture)

from gankit.training import checkpoint as ckpt
from gankit.training.trainer import Trainer


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.usefixtures("fast")
def test_resume_past_a_truncated_newest_keeps_the_good_older_one(tmp_path):
    """Checkpoints at steps 2 and 4 (keep_ckpts=2), step 4 truncated; the resume starts from step
    2 and saves step 3 (a stop signal, a wall-clock budget): 2 and 3 are the two kept, the corrupt
    one is set aside. Before, rotation counted the corrupt step 4 and deleted step 2."""
    run = tmp_path / "run"
    Trainer(tiny(run, steps=4, keep_ckpts=2)).fit(progress=False)
    folder = run / "checkpoints"
    truncate(folder / "step-00000004.pt")
    with pytest.warns(UserWarning, match=r"set aside as step-00000004\.pt\.corrupt; using the previous"):
        t = Trainer.from_run(run, overrides={"steps": 6})
    assert t.state.step == 2
    t.train_step()
    t.save_checkpoint()
    assert names(folder) == [
        "step-00000002.json",
        "step-00000002.pt",
        "step-00000003.json",
        "step-00000003.pt",
        "step-00000004.json.corrupt",
        "step-00000004.pt.corrupt",
    ]
    # and the run goes on to the end and resumes from its newest checkpoint
    t.fit(progress=False)
    assert [p.name for p in ckpt.list_checkpoints(folder)] == ["step-00000004.pt", "step-00000006.pt"]
    assert Trainer.from_run(run).state.step == 6


@pytest.mark.usefixtures("fast")
def test_rotation_never_counts_a_checkpoint_that_lost_its_size(tmp_path):
    """A checkpoint truncated on disk while the run goes on (never loaded): rotation sets it aside
    and keeps the newest whole earlier one instead."""
    run = tmp_path / "run"
    t = Trainer(tiny(run, steps=6, keep_ckpts=2))
    t.fit(progress=False)  # 4 and 6 are kept
    folder = run / "checkpoints"
    truncate(folder / "step-00000006.pt")
    t.cfg.steps = 8
    t.fit(progress=False)  # saves step 8; step 6 is not written again
    assert [p.name for p in ckpt.list_checkpoints(folder)] == ["step-00000004.pt", "step-00000008.pt"]
    assert (folder / "step-00000006.pt.corrupt").exists()


def test_rotation_keeps_the_new_one_and_leaves_later_steps_alone(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (1, 2, 9):
        ckpt.save_checkpoint(folder, step, {"x": step}, keep=5)
    truncate(folder / "step-00000002.pt")
    ckpt.save_checkpoint(folder, 3, {"x": 3}, keep=1)
    # 3 is new and whole; 2 lost its size and is set aside; 1 is the one too many; 9 (a later
    # step, e.g. left by a run resumed from before it) is neither counted nor deleted.
    assert [p.name for p in ckpt.list_checkpoints(folder)] == ["step-00000003.pt", "step-00000009.pt"]
    assert (folder / "step-00000002.pt.corrupt").exists()
    _, state = ckpt.load_latest(tmp_path)
    assert state["x"] == 9
