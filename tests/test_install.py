"""A non-editable install works on its own: `pip install .` into a fresh virtual environment
(no torch), then `movierec serve` and `movierec data info` from another directory find the
shipped model and the embedded dataset."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv holding `pip install .` of the tracked files."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to copy the tracked files")
    base = tmp_path_factory.mktemp("install")
    tree = base / "tree"
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = ROOT / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(tree)],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0:
        pytest.fail(f"pip install . failed:\n{install.stderr[-3000:]}")
    return venv / "bin"


def test_the_install_has_no_torch_and_no_checkout(installed: Path, tmp_path: Path) -> None:
    probe = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.util, recsys.data.paths as p; "
            "print(importlib.util.find_spec('torch') is None); "
            "print(p.default_model_path()); print(p.default_dataset_path())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    no_torch, model, dataset = probe.stdout.split()
    assert no_torch == "True"
    assert "site-packages" in model and (Path(model) / "manifest.json").is_file()
    assert "site-packages" in dataset and (Path(dataset) / "ratings.csv").is_file()


def test_data_info_finds_the_embedded_dataset(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [str(installed / "movierec"), "data", "info", "ml-latest-small", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["movies"], summary["ratings"]) == (9742, 100836)


def test_serve_answers_from_the_shipped_model(installed: Path, tmp_path: Path) -> None:
    lines = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "install-test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "similar_movies", "arguments": {"movie": "Toy Story", "k": 3}},
        },
    ]
    proc = subprocess.Popen(
        [str(installed / "movierec"), "serve"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    answers = {}
    try:
        for message in lines:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
            proc.stdin.flush()
            if "id" in message:
                answer = json.loads(proc.stdout.readline())
                answers[answer["id"]] = answer
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    result = answers[2]["result"]
    assert not result.get("isError"), result
    items = result["structuredContent"]["items"]
    assert len(items) == 3
    assert result["structuredContent"]["movie"]["title"].startswith("Toy Story")
