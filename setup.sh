#!/usr/bin/env bash
# Set up GyroSI in ./.venv and run it.
#   ./setup.sh run [ARGS...]   set up what the chat needs (the core, the GyroSI engine, the stub
#                              and the tools; not torch), then `gyrosi run ARGS...` (the main job)
#   ./setup.sh test [ARGS...]  set up everything, then ruff, mypy and the whole test suite
#   ./setup.sh install         only set up everything (core, every plugin, the test tools)
#   ./setup.sh python          print the Python >= 3.12 set-up would use
# GYROSI_PYTHON=/path/to/python3.12 picks the interpreter; otherwise PATH, then pyenv.
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv

say() { printf 'setup: %s\n' "$*" >&2; }

usable() {  # a Python >= 3.12 that actually runs (pyenv shims may exist but fail)
  [ -n "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

find_python() {
  local candidate
  if [ -n "${GYROSI_PYTHON:-}" ]; then
    usable "$GYROSI_PYTHON" && { echo "$GYROSI_PYTHON"; return; }
    say "GYROSI_PYTHON=$GYROSI_PYTHON is not a working Python >= 3.12."; exit 1
  fi
  for candidate in python3.12 python3.13 python3.14 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && usable "$(command -v "$candidate")"; then
      command -v "$candidate"; return
    fi
  done
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  # the oldest supported release first: it is the one the heavy wheels (torch) target best
  for candidate in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -V); do
    if usable "$candidate/bin/python3"; then echo "$candidate/bin/python3"; return; fi
  done
  say "no Python >= 3.12 found on PATH or under pyenv ($root/versions); install one (e.g. 'pyenv install 3.12') or set GYROSI_PYTHON."
  exit 1
}

# The plugins the chat uses; `test` and `install` add every other plugin (transformers: torch).
RUN_PLUGINS="plugins/gyrosi_backend plugins/stub_backend plugins/tools_oss"

install() {  # install [run]: the run set only, else everything
  local plugins stamp stamp_file extras=".[test]"
  plugins=$(ls -d plugins/*/ 2>/dev/null | while read -r d; do [ -f "$d/pyproject.toml" ] && echo "${d%/}"; done)
  stamp=$(cat pyproject.toml $(for p in $plugins; do echo "$p/pyproject.toml"; done) | sha256sum | cut -c1-16)
  stamp_file="$VENV/.gyrosi-stamp"  # everything installed
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  if [ "${1:-}" = run ]; then
    plugins=$(for p in $RUN_PLUGINS; do [ -f "$p/pyproject.toml" ] && echo "$p"; done)
    stamp_file="$VENV/.gyrosi-stamp-run"
    extras="."
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
      return
    fi
  fi
  if [ ! -x "$VENV/bin/python" ] || ! usable "$VENV/bin/python"; then
    local py; py=$(find_python)
    say "creating $VENV with $py ($("$py" --version 2>&1))"
    rm -rf "$VENV"
    "$py" -m venv "$VENV"
  fi
  say "installing gyrosi and its plugins (${plugins//$'\n'/, }) into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "setuptools>=69" wheel
  local args=(-e "$extras")
  for p in $plugins; do args+=(-e "$p"); done
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation "${args[@]}"
  echo "$stamp" > "$stamp_file"
}

cmd=${1:-run}; shift || true
case "$cmd" in
  install) install ;;
  python) find_python ;;
  run)
    install run
    exec "$VENV/bin/gyrosi" run "$@" ;;  # the GyroSI engine: the default backend
  test)
    install
    "$VENV/bin/ruff" check .
    "$VENV/bin/mypy"
    # one worker per core, a file's tests on one worker (its module fixtures start once);
    # arguments after `test` go to pytest and win (`-n 0` runs in this process)
    exec "$VENV/bin/python" -m pytest -n auto --dist loadfile "$@" ;;
  *) say "unknown command '$cmd'; use run, test, install or python."; exit 2 ;;
esac
