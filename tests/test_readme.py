"""The README's Python example runs as written (on the shipped sample)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert '"my-data"' in code
    code = code.replace('"my-data"', repr(str(tmp_path / "my-data")))
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["problems"] == []
    assert (tmp_path / "my-data" / "tickers").is_dir()
