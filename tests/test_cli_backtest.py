"""``spreadarb backtest`` end to end on the shipped sample: the README's main command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import spreadarb
from spreadarb.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.mark.slow
def test_readme_main_command_prints_a_summary_and_writes_a_tearsheet(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "spreadarb backtest data/sample" in readme
    # As a user runs it: a fresh process, from the repository root copied nowhere; the
    # default output folder is a new one under ./results of the working directory.
    (tmp_path / "data").symlink_to(ROOT / "data")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "spreadarb.cli", "backtest", "data/sample"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out = run.stdout
    for label in ("cumulative PnL (USD)", "realistic APR", "win rate", "leg-outs"):
        assert label in out
    # Not a terminal: no progress bar in the captured output.
    assert "stage" not in run.stderr
    folders = list((tmp_path / "results").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("backtest-sample-")
    tearsheet = folders[0] / "tearsheet.png"
    assert tearsheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"tearsheet: results/{folders[0].name}/tearsheet.png" in out
    metrics = json.loads((folders[0] / "metrics.json").read_text())
    assert f"{metrics['cumulative_pnl']:,.2f}" in out
    assert f"{metrics['leg_out_count']}, {metrics['leg_out_total_loss']:,.2f}" in out
    back = spreadarb.BacktestResult.load(folders[0])
    assert back.metrics["cumulative_pnl"] == metrics["cumulative_pnl"]


def test_backtest_selection_config_and_out(tmp_path, capsys, monkeypatch):
    config = spreadarb.StrategyConfig(min_confidence=60, starting_capital=50_000.0)
    config.to_toml(tmp_path / "my.toml")
    monkeypatch.chdir(tmp_path)
    argv = [
        "backtest",
        str(SAMPLE),
        "--config",
        "my.toml",
        "--symbols",
        "BTC,ETH",
        "--start",
        "2024-08-08T07:30",
        "--end",
        "2024-08-08T08:00",
        "--out",
        "runs/a",
        "--no-plots",
        "--trades",
        "2",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 symbols x 8 exchanges" in out and "0.50 h" in out
    saved = spreadarb.BacktestResult.load(tmp_path / "runs" / "a")
    assert saved.config == config
    assert saved.dataset_symbols == ("BTC", "ETH")
    assert not list((tmp_path / "runs" / "a").glob("*.png"))
    assert not (tmp_path / "results").exists()
    ds = spreadarb.load(
        SAMPLE, start="2024-08-08T07:30", end="2024-08-08T08:00", symbols=["BTC", "ETH"]
    )
    direct = spreadarb.backtest(ds, config)
    assert saved.trade_records.tobytes() == direct.trade_records.tobytes()
    assert f"{direct.metrics['cumulative_pnl']:,.2f}" in out
    shown = out.split("closed trades (", 1)
    if direct.metrics["trades_closed"]:
        assert shown[1].startswith(f"{min(2, direct.metrics['trades_closed'])} of ")
    assert "results saved to runs/a/" in out


def test_backtest_no_save_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["backtest", str(SAMPLE), "--symbols", "SOL", "--end", "2024-08-08T07:20"]
    assert main([*argv, "--no-save", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "cumulative PnL" in out and "saved" not in out
    assert list(tmp_path.iterdir()) == []


def test_backtest_default_folders_are_new_each_run(tmp_path, monkeypatch):
    from spreadarb.cli import _default_out

    monkeypatch.chdir(tmp_path)
    first, second = _default_out("data/sample"), _default_out("data/sample")
    assert first != second and first.is_dir() and second.is_dir()
    assert first.parent == second.parent == Path("results")


def test_backtest_bad_config_is_a_usage_error(tmp_path, capsys):
    assert main(["backtest", str(SAMPLE), "--config", str(tmp_path / "none.toml")]) == 2
    assert "error" in capsys.readouterr().err
