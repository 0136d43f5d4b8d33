"""The compatibility matrix: the latest patch of every Airflow minor from 3.0, on Python 3.11-3.13.

    python3 scripts/matrix.py lock                 # `make lock`: re-pin constraints-airflow-3.*.txt
    python3 scripts/matrix.py run [--jobs 3] [CELL ...]    # `make matrix`: test every cell

Each cell is a venv in ``.matrix/<cell>/`` (uv; its Python from PATH or pyenv) with this package and its
test extras installed against its minor's lock, where it runs the whole test suite and
``scripts/run_demo.py`` (the example DAG with ``airflow dags test``); logs stay in the same folder.
Airflow 3.3 on Python 3.11 is not a cell: ``make test`` runs it. The summary names every cell that
failed, and the exit status is 1 when any did.

A minor's lock stands for Airflow's constraints of its latest patch: the package index at the end of
the day that patch was released (``--exclude-newer``), except ``apache-airflow-providers-common-compat``,
whose first release with every name this provider imports (1.21) came later. The oldest minor's lock
also holds this package's own dependencies at exactly their floors in pyproject.toml.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELLS_DIR = ROOT / ".matrix"
UV = [sys.executable, "-m", "uv"]
#: The newest common-compat the locks of the older minors may take.
COMMON_COMPAT_AS_OF = "2026-11-30T00:00:00Z"


@dataclass(frozen=True)
class Minor:
    airflow: str  # its latest patch
    index_as_of: str  # the day after that patch was released
    lock: str
    floors: bool = False  # also pin this package's own dependencies to their floors


#: 3.3 is pinned by constraints.txt, the lock of `make test`, from the newest index.
MINORS = {
    "3.0": Minor("3.0.6", "2025-08-30T00:00:00Z", "constraints-airflow-3.0.txt", floors=True),
    "3.1": Minor("3.1.8", "2026-03-12T00:00:00Z", "constraints-airflow-3.1.txt"),
    "3.2": Minor("3.2.2", "2026-05-30T00:00:00Z", "constraints-airflow-3.2.txt"),
    "3.3": Minor("3.3.2", "", "constraints.txt"),
}


@dataclass(frozen=True)
class Cell:
    minor: str
    python: str
    e2e: bool = False  # also the end-to-end tests (a real scheduler, dag-processor, triggerer)

    @property
    def name(self) -> str:
        return f"airflow-{self.minor}-py{self.python}"


#: The browser test of Airflow's UI runs in `make test` (Airflow 3.3) only, not in an e2e cell: it
#: drives the connection form as Airflow 3.3 draws it from the hook's fields, and Airflow 3.0's UI
#: draws this provider's form with only the standard fields, under "Connection type missing?". The
#: e2e cell (the issue's end-to-end run on the oldest minor) runs every other e2e test.
BROWSER_TEST = "tests/e2e/test_ui.py"


#: Longest first, so that two jobs finish together.
CELLS = [
    Cell("3.0", "3.11", e2e=True),
    Cell("3.3", "3.13"),
    Cell("3.1", "3.11"),
    Cell("3.3", "3.12"),
    Cell("3.2", "3.11"),
]


def interpreter(version: str) -> str:
    """``python<version>`` from PATH, else from pyenv (whose shim runs only the selected versions)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [
        shutil.which(f"python{version}"),
        *map(str, sorted(pyenv.glob(f"versions/{version}.*/bin/python{version}"))),
    ]
    for candidate in candidates:
        if (
            candidate
            and subprocess.run([candidate, "-c", ""], capture_output=True, check=False).returncode == 0
        ):
            return candidate
    raise FileNotFoundError(
        f"No Python {version}: neither python{version} on PATH nor pyenv's {pyenv}/versions/{version}.*"
    )


def floors() -> list[str]:
    """``name==version`` for every ``name>=version`` runtime dependency in pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = []
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition(">=")
        if name != "apache-airflow":
            pins.append(f"{name}=={version}")
    return pins


def lock() -> None:
    for minor in MINORS.values():
        if not minor.index_as_of:
            continue
        pins = [f"apache-airflow=={minor.airflow}", *(floors() if minor.floors else [])]
        subprocess.run(
            [
                *UV,
                "pip",
                "compile",
                "--quiet",
                "--python-version=3.11",
                # What a cell installs: the docs and lint tools (the dev extra) would only narrow
                # the resolution (myst-parser pins markdown-it-py, which rich shares with Airflow).
                "--extra=test",
                "pyproject.toml",
                "-",  # the pins
                f"--exclude-newer={minor.index_as_of}",
                f"--exclude-newer-package=apache-airflow-providers-common-compat={COMMON_COMPAT_AS_OF}",
                "--custom-compile-command=make lock",
                f"--output-file={minor.lock}",
            ],
            input="\n".join(pins) + "\n",
            text=True,
            cwd=ROOT,
            check=True,
        )
        print(f"{minor.lock}: Airflow {minor.airflow}, the index as of {minor.index_as_of[:10]}")


VERSIONS = (
    "import sys; from importlib.metadata import version as v; "
    'print(f\'Python {sys.version.split()[0]}, Airflow {v("apache-airflow")}, '
    'common-compat {v("apache-airflow-providers-common-compat")}\')'
)


@dataclass
class Result:
    cell: Cell
    ok: bool = False
    versions: str = ""
    tests: str = "not run"
    demo: str = "not run"
    seconds: float = 0.0
    failure: str = ""


def run_cell(cell: Cell) -> Result:
    result = Result(cell)
    folder = CELLS_DIR / cell.name
    folder.mkdir(parents=True, exist_ok=True)
    python = folder / "venv/bin/python"
    started = time.monotonic()

    def step(label: str, command: list[str], log: str) -> bool:
        with (folder / log).open("a") as out:
            code = subprocess.run(
                command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        if code.returncode != 0:
            result.failure = f"{label} exited {code.returncode}: see {(folder / log).relative_to(ROOT)}"
        return code.returncode == 0

    try:
        for log in ("install.log", "pytest.log", "demo.log"):
            (folder / log).unlink(missing_ok=True)
        try:
            interpreter_path = interpreter(cell.python)
        except FileNotFoundError as exc:
            result.failure = str(exc)
            return result
        lock_file = ROOT / MINORS[cell.minor].lock
        venv = [
            *UV,
            "venv",
            "--quiet",
            "--allow-existing",
            "--python",
            interpreter_path,
            str(folder / "venv"),
        ]
        install = [
            *UV,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "-c",
            str(lock_file),
            "-e",
            ".[test]",
        ]
        if not (step("uv venv", venv, "install.log") and step("install", install, "install.log")):
            return result
        result.versions = subprocess.run(
            [str(python), "-c", VERSIONS], capture_output=True, text=True, check=True
        ).stdout.strip()
        selection = ["--ignore", BROWSER_TEST] if cell.e2e else ["-m", "not e2e"]
        tests_ok = step(
            "pytest", [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection], "pytest.log"
        )
        lines = (folder / "pytest.log").read_text().strip().splitlines()
        result.tests = re.sub(r"^=+ | =+$", "", lines[-1]) if lines else "no output"
        if not tests_ok:
            # CI prints only this summary, so it must name what failed and why.
            result.failure += "".join(
                f"\n           {line[:400]}" for line in lines if line.startswith(("FAILED ", "ERROR "))
            )
        demo_ok = step("demo", [str(python), "scripts/run_demo.py"], "demo.log")
        summary = re.search(r"DAG run state: \w+", (folder / "demo.log").read_text())
        result.demo = summary.group(0) if summary else "failed"
        if tests_ok and not demo_ok:
            result.failure = f"demo failed: see {(folder / 'demo.log').relative_to(ROOT)}"
        result.ok = tests_ok and demo_ok
        return result
    finally:
        result.seconds = time.monotonic() - started
        print(
            f"[{cell.name}] {'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s: {result.tests}",
            flush=True,
        )


def run(names: list[str], jobs: int) -> int:
    cells = [cell for cell in CELLS if not names or cell.name in names]
    unknown = set(names) - {cell.name for cell in CELLS}
    if unknown:
        print(f"Unknown cells {sorted(unknown)}; the cells are {[cell.name for cell in CELLS]}")
        return 2
    started = time.monotonic()
    print(
        f"Matrix: {len(cells)} cells, {jobs} at a time; logs in {CELLS_DIR.relative_to(ROOT)}/<cell>/",
        flush=True,
    )
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run_cell, cells))
    print(f"\nMatrix summary ({time.monotonic() - started:.0f} s in all):")
    for r in results:
        e2e = " +e2e" if r.cell.e2e else ""
        print(
            f"  {'ok    ' if r.ok else 'FAILED'} {r.cell.name}{e2e} ({r.seconds:.0f} s): {r.versions}; {r.tests}; demo: {r.demo}"
        )
        if r.failure:
            print(f"         {r.failure}")
    failed = [r.cell.name for r in results if not r.ok]
    if failed:
        print(f"FAILED cells: {', '.join(failed)}")
    print(f"cells: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("lock", help="re-pin the lock of every older minor")
    run_parser = commands.add_parser("run", help="test every cell (or the named ones)")
    run_parser.add_argument("cells", nargs="*", metavar="CELL", help=", ".join(cell.name for cell in CELLS))
    run_parser.add_argument("--jobs", type=int, default=3, help="cells run at once (default 3)")
    args = parser.parse_args()
    if args.command == "lock":
        lock()
        return 0
    return run(args.cells, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
