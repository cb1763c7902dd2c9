"""The theory commands show their progress on stderr as they go, and stay quiet under
GANKIT_PROGRESS=none."""

import pytest

from gankit.cli import main
from gankit.training import progress as progress_mod


@pytest.fixture
def every_line(monkeypatch):
    monkeypatch.setenv("GANKIT_PROGRESS", "lines")
    monkeypatch.setattr(progress_mod, "LINE_EVERY_S", 0.0)  # a line at every report


def stderr_lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_modes_reports_game_steps_and_minimizer_stages(every_line, tmp_path, capsys):
    argv = ["modes", "--f", "tv", "--steps", "4", "--batch-size", "64", "--out", str(tmp_path / "m")]
    assert main(argv) == 0
    lines = stderr_lines(capsys)
    games = [ln for ln in lines if "game step" in ln]
    assert [ln.split("game step ")[1] for ln in games] == ["1/4", "2/4", "3/4", "4/4"]
    assert all(ln.startswith("modes 1/1 tv: ") for ln in lines)
    assert any("exact minimum: start 1/" in ln for ln in lines)
    assert any("local minimum: start 1/1" in ln for ln in lines)


def test_divergence_and_mle_report_their_steps(every_line, tmp_path, capsys):
    argv = ["divergence", "--f", "kl", "--steps", "3", "--batch-size", "64", "--width", "8"]
    assert main([*argv, "--out", str(tmp_path / "d")]) == 0
    lines = stderr_lines(capsys)
    assert [ln.split()[3] for ln in lines] == ["1/3", "2/3", "3/3"], lines
    assert all(ln.startswith("divergence kl step ") for ln in lines)
    argv = ["mle-vs-kl", "--iters", "2", "--n", "100", "--n-test", "1000", "--out", str(tmp_path / "e")]
    assert main(argv) == 0
    assert [ln.split()[2] for ln in stderr_lines(capsys)] == ["1/3", "2/3", "3/3"]


def test_quiet_under_gankit_progress_none(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GANKIT_PROGRESS", "none")
    argv = ["divergence", "--f", "kl", "--steps", "3", "--batch-size", "64", "--width", "8"]
    assert main([*argv, "--out", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().err == ""


def test_stage_bar_reaches_its_total_when_the_work_ends(capsys):
    from gankit.training.progress import StageBar

    with StageBar(2, "modes", mode="bar", unit="divergence") as bar:
        bar.stage(0, "kl", "game step 1/1")
        bar.stage(1, "tv", "exact minimum: start 1/1, 3 evals")
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("modes: 2/2 divergences"), last
