"""Package-level promises: docs cover the contract, the CLI explains itself, JIT switch works."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spreadarb.cli import build_parser, main
from spreadarb.data.contract import ALL_TABLES

ROOT = Path(__file__).resolve().parents[1]


def test_docs_data_md_documents_every_contract_column():
    text = (ROOT / "docs" / "data.md").read_text()
    for spec in ALL_TABLES.values():
        assert f"### `{spec.name}`" in text
        for column in spec.columns:
            assert f"| `{column.name}` | {column.kind.arrow_type} | {column.unit} |" in text


def test_every_docs_page_is_in_the_site_navigation():
    nav = (
        (ROOT / "mkdocs.yml")
        .read_text()
        .split("\nnav:", 1)[1]
        .split("\nmarkdown_extensions:", 1)[0]
    )
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert pages and all(f": {name}" in nav for name in pages), nav
    assert "site/" in (ROOT / ".gitignore").read_text().splitlines()


def test_kernel_modules_import_only_numpy_math_numba():
    # llvmlite is numba's own code generator (kernels/prefetch.py emits an LLVM intrinsic);
    # zlib's checksum names the numba type of kernels/byref.py.
    allowed = {
        "numpy",
        "math",
        "numba",
        "llvmlite",
        "zlib",
        "spreadarb._jit",
        "__future__",
        "typing",
    }
    for path in sorted((ROOT / "spreadarb" / "kernels").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name in allowed or name.startswith(("numba.", "spreadarb.kernels")), (
                    f"{path.name} imports {name}"
                )


@pytest.mark.parametrize("command", [[], ["validate"], ["info"], ["synth"], ["scan"], ["backtest"]])
def test_cli_help_is_clear(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spreadarb")
    assert len(out.splitlines()) > 3


def test_cli_lists_every_subcommand():
    text = build_parser().format_help()
    for name in ("validate", "info", "synth", "scan", "backtest"):
        assert name in text


def test_jit_switch_returns_python_functions():
    code = (
        "import spreadarb._jit as j, spreadarb.kernels.synth_nb as k;"
        "print(j.JIT_DISABLED, type(k.ar1_paths).__name__, k.ar1_paths.py_func is k.ar1_paths)"
    )
    env = {**os.environ, "SPREADARB_DISABLE_JIT": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "function", "True"]
    env["SPREADARB_DISABLE_JIT"] = "0"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "False" and out[1] != "function"


def test_jit_options_compile_and_refuse_allocation_without_refcounting():
    import numpy as np
    from numba.core.errors import NumbaError

    from spreadarb._jit import JIT_DISABLED, jit

    def add_one(a: np.ndarray) -> None:
        for i in range(a.shape[0]):
            a[i] += 1.0

    def total(a: np.ndarray) -> float:
        s = 0.0
        for i in range(a.shape[0]):
            s += a[i]
        return s

    inlined = jit(inline=True, refcount=False)(total)

    def caller(a: np.ndarray) -> float:
        add_one_fast(a)
        return inlined(a)

    add_one_fast = jit(refcount=False, internal=True)(add_one)
    caller_fast = jit(refcount=False)(caller)
    a = np.arange(4.0)
    assert caller_fast(a) == 10.0
    assert a.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert caller_fast.py_func is caller
    if JIT_DISABLED:
        return

    def allocates(n: int) -> np.ndarray:
        return np.zeros(n)

    # Without numba's runtime an array cannot be created: compiling must fail loudly.
    with pytest.raises(NumbaError):
        jit(refcount=False)(allocates)(3)
