# Sourced by scripts/app.sh and scripts/test.sh: create or reuse the project's virtual environment (.venv, or
# $GOEMO_VENV) and install into it only what changed since the last install.
# Torch comes first, in the build this machine can use: CUDA where an NVIDIA driver answers, the CPU build elsewhere
# (PyPI's default Linux wheel carries CUDA libraries a CPU machine never uses). Then the project itself, editable,
# with the dependencies pyproject.toml reads from requirements.txt (and requirements-test.txt for the tests).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${GOEMO_VENV:-$ROOT/.venv}
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
export PIP_DISABLE_PIP_VERSION_CHECK=1

# python3.11 where there is one (the version the project is tested on), else python3; $PYTHON chooses.
base_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"
  elif command -v python3.11 >/dev/null 2>&1; then echo python3.11
  else echo python3
  fi
}

# cuda or cpu; GOEMO_TORCH_BUILD=cpu|cuda overrides the detection.
torch_build() {
  if [ -n "${GOEMO_TORCH_BUILD:-}" ]; then echo "$GOEMO_TORCH_BUILD"
  elif [ -e /proc/driver/nvidia/version ] || nvidia-smi -L >/dev/null 2>&1; then echo cuda
  else echo cpu
  fi
}

# The torch requirement pinned in requirements.txt, e.g. torch==2.13.0.
torch_pin() {
  local pin
  pin=$(grep -E '^torch==[^ #]+' "$ROOT/requirements.txt" | head -n 1 | sed -E 's/[ #].*//')
  if [ -z "$pin" ]; then
    echo "requirements.txt pins no torch version (a line torch==X.Y.Z)" >&2
    return 1
  fi
  echo "$pin"
}

# What an install depends on: the requirement files, pyproject.toml, the Python version and the torch build.
install_key() {
  local files=("$ROOT/pyproject.toml" "$ROOT/requirements.txt")
  [ "$1" = test ] && files+=("$ROOT/requirements-test.txt")
  { cat "${files[@]}"; "$VENV/bin/python" -V; torch_build; } |
    "$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

create_venv() {
  local python
  python=$(base_python)
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed: '$python' is $("$python" -V 2>&1 || echo missing); set PYTHON=…" >&2
    return 1
  fi
  echo "Creating the virtual environment $VENV ($("$python" -V))" >&2
  "$python" -m venv "$VENV" || {
    echo "'$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    return 1
  }
}

install_torch() {
  local pin build installed
  pin=$(torch_pin) || return 1
  build=$(torch_build)
  installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)
  if [ "$build" = cpu ] && [ "$(uname -s)" = Linux ]; then
    [ "$installed" = "${pin#torch==}+cpu" ] && return 0
    echo "Installing ${pin}+cpu (the CPU build)" >&2
    # A local copy of the CPU build where pip is configured with one, else PyTorch's CPU index.
    if "$VENV/bin/pip" install -q --dry-run --no-deps "${pin}+cpu" >/dev/null 2>&1; then
      "$VENV/bin/pip" install -q "${pin}+cpu"
    else
      "$VENV/bin/pip" install -q "${pin}+cpu" --extra-index-url "$TORCH_CPU_INDEX"
    fi
  else
    case "$installed" in "${pin#torch==}" | "${pin#torch==}"+cu*) return 0 ;; esac
    # PyPI's Linux wheel is the CUDA build; TORCH_INDEX_URL picks another (e.g. …/whl/cu128 for an older driver).
    echo "Installing $pin for $build" >&2
    # a CPU build left from before satisfies the pin, so it would stay
    case "$installed" in *+cpu) "$VENV/bin/pip" uninstall -q -y torch ;; esac
    "$VENV/bin/pip" install -q "$pin" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  fi
}

# prepare_venv app|test: the environment the app (or the tests) run in, installed or updated as needed.
prepare_venv() {
  local status=0
  mkdir -p "$VENV"
  # one install at a time (the app and the tests may be started together); released before either runs
  exec 9>"$VENV/.install.lock"
  if command -v flock >/dev/null 2>&1; then flock 9; fi
  install_changes "$1" || status=$?
  exec 9>&-
  return "$status"
}

install_changes() {
  local target=$1 key started=$SECONDS project=$ROOT
  if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    create_venv || return 1
  fi
  key=$(install_key "$target")
  [ "$(cat "$VENV/.installed-$target" 2>/dev/null)" = "$key" ] && return 0
  install_torch || return 1
  [ "$target" = test ] && project="$ROOT[test]"
  echo "Installing the project and its dependencies ($target; the first time takes minutes)" >&2
  "$VENV/bin/pip" install -q -e "$project" || return 1
  echo "$key" >"$VENV/.installed-$target"
  # the tests' environment holds the app's as well
  [ "$target" = test ] && install_key app >"$VENV/.installed-app"
  echo "Installed in $((SECONDS - started)) s" >&2
}
