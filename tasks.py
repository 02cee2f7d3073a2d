"""Set up the environment, run the notebooks and build the book, or run the tests.

Usage (from the repository root, with Python 3.11 and pip):

    python3 tasks.py book [--profile quick|paper]   execute every notebook, build the book
    python3 tasks.py test [pytest arguments]        run the test suite

Both commands first create ``.venv`` and install ``requirements.txt`` and this
package into it (skipped when nothing changed since the last install), then
run themselves inside it. Notebooks are converted from MyST markdown with
jupytext, executed by papermill with the profile's parameters into
``output/notebooks``, and the HTML book is built from them with
``jupyter-book build -W -n --keep-going`` into ``_build/html``.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
OUTPUT = ROOT / "output"
NOTEBOOK_SOURCES = ROOT / "notebooks"
EXECUTED = OUTPUT / "notebooks"
PROFILES = ROOT / "profiles"
KERNEL_NAME = "skt-lib"
INSTALL_INPUTS = ("requirements.txt", "pyproject.toml")


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_stamp():
    digest = hashlib.sha256()
    for name in INSTALL_INPUTS:
        digest.update((ROOT / name).read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_environment():
    """Create ``.venv`` and install the pinned requirements when they changed."""
    python = venv_python()
    stamp_file = VENV / ".installed"
    stamp = install_stamp()
    if python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    if not python.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing requirements (first run only; about a minute)", flush=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run_quietly([*pip, "-r", str(ROOT / "requirements.txt")])
    run_quietly([*pip, "--no-deps", "-e", str(ROOT)])
    subprocess.run(
        [str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
         "--display-name", "Python (skt-lib)"],
        check=True, stdout=subprocess.DEVNULL,
    )
    stamp_file.write_text(stamp)
    return python


def run_quietly(command):
    """Run ``command``, showing its output only when it fails."""
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        print(completed.stdout[-5000:], completed.stderr[-5000:], sep="\n", file=sys.stderr)
        print(f"error: command failed with status {completed.returncode}: {' '.join(command)}",
              file=sys.stderr)
        raise SystemExit(1)


def in_environment():
    return Path(sys.prefix).resolve() == VENV.resolve()


def reexecute_in_environment():
    python = ensure_environment()
    env = dict(os.environ)
    env["PATH"] = str(python.parent) + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(VENV)
    completed = subprocess.run([str(python), __file__, *sys.argv[1:]], env=env, cwd=ROOT)
    return completed.returncode


def notebook_order():
    """Return notebook names in the order of the table of contents."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = []

    def visit(entries):
        for entry in entries:
            file = entry.get("file", "")
            if file.startswith("output/notebooks/"):
                names.append(Path(file).name)
            visit(entry.get("sections", []))

    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        visit(part.get("chapters", []))
    return names


def load_profile(name):
    import yaml

    path = PROFILES / f"{name}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in PROFILES.glob("*.yaml"))
        raise SystemExit(f"error: profile {name!r} not found; available: {available}")
    profile = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(profile) - {"defaults", "notebooks"})
    if unknown:
        raise SystemExit(f"error: profile {path} has unknown sections {unknown}; "
                         "allowed: defaults, notebooks")
    defaults = profile.get("defaults") or {}
    declared = set()
    for source in sorted(NOTEBOOK_SOURCES.glob("*.md")):
        declared |= declared_parameters(source)
    unused = sorted(set(defaults) - declared)
    if unused:
        raise SystemExit(f"error: profile {path} sets {unused}, which no notebook declares; "
                         f"declared parameters: {sorted(declared)}")
    return defaults, profile.get("notebooks") or {}


def declared_parameters(source):
    """Return the names assigned in the cell tagged ``parameters`` of a MyST notebook."""
    import jupytext

    names = set()
    for cell in jupytext.read(source).cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            for line in cell.source.splitlines():
                name = line.split("=")[0].strip()
                if "=" in line and name.isidentifier():
                    names.add(name)
    return names


def execute_notebooks(profile_name, only=None):
    """Convert each MyST notebook to .ipynb and execute it with papermill."""
    import jupytext
    import papermill

    defaults, per_notebook = load_profile(profile_name)
    EXECUTED.mkdir(parents=True, exist_ok=True)
    names = notebook_order()
    sources = {path.stem for path in NOTEBOOK_SOURCES.glob("*.md")}
    missing = sorted(set(names) - sources)
    unused = sorted(sources - set(names))
    if missing or unused:
        raise SystemExit(f"error: _toc.yml and notebooks/ disagree: missing sources {missing}, "
                         f"notebooks not in the table of contents {unused}")
    unknown_names = sorted(set(only or []) - set(names))
    if unknown_names:
        raise SystemExit(f"error: --notebook {unknown_names[0]!r} is not a notebook; "
                         f"available: {names}")
    for name in names:
        if only and name not in only:
            continue
        source = NOTEBOOK_SOURCES / f"{name}.md"
        unexecuted = EXECUTED / f"{name}.source.ipynb"
        executed = EXECUTED / f"{name}.ipynb"
        jupytext.write(jupytext.read(source), unexecuted)
        declared = papermill.inspect_notebook(str(unexecuted))
        parameters = {**defaults, **per_notebook.get(name, {})}
        undeclared = sorted(set(per_notebook.get(name, {})) - set(declared))
        if undeclared:
            raise SystemExit(f"error: profile {profile_name!r} sets {undeclared} for {name}, "
                             f"which declares only {sorted(declared)}")
        # Defaults apply to the notebooks that declare them; some notebooks
        # have no normalization parameter, for example.
        parameters = {key: value for key, value in parameters.items() if key in declared}
        print(f"executing {name} with {parameters}", flush=True)
        executed.unlink(missing_ok=True)
        try:
            papermill.execute_notebook(
                str(unexecuted), str(executed), parameters=parameters,
                kernel_name=KERNEL_NAME, cwd=str(NOTEBOOK_SOURCES), progress_bar=False,
            )
        except papermill.PapermillExecutionError as error:
            print(f"error: notebook {name} failed: {error.ename}: {error.evalue}",
                  file=sys.stderr)
            print(f"error: the partly executed notebook is {executed}", file=sys.stderr)
            raise SystemExit(1) from None
        finally:
            unexecuted.unlink(missing_ok=True)


def build_book():
    """Build the HTML book strictly: every warning is an error."""
    executable = Path(sys.executable).parent / "jupyter-book"
    command = [str(executable), "build", str(ROOT), "--builder", "html", "-W", "-n",
               "--keep-going"]
    print(" ".join(command), flush=True)
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        print("error: the book build failed; the messages above name the pages",
              file=sys.stderr)
        raise SystemExit(1)
    print(f"book written to {ROOT / '_build' / 'html' / 'index.html'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    book = commands.add_parser("book", help="execute the notebooks and build the HTML book")
    book.add_argument("--profile", default="quick",
                      help="parameter profile in profiles/ (quick: minutes, paper: hours)")
    book.add_argument("--notebook", action="append", default=None,
                      help="execute only this notebook (repeatable); the book is still built")
    commands.add_parser("test", help="run the test suite; extra arguments go to pytest")
    args, extra = parser.parse_known_args()
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not in_environment():
        return reexecute_in_environment()
    os.chdir(ROOT)
    if args.command == "book":
        execute_notebooks(args.profile, only=args.notebook)
        build_book()
        return 0
    completed = subprocess.run([sys.executable, "-m", "pytest", *extra], cwd=ROOT)
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
