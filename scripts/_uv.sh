# Sourced by the scripts: puts `uv` on PATH on a fresh machine (installing it with pip if missing).
_uv_find() {
  # `uv run` names itself in $UV; `pip install --user` puts the binary in ~/.local/bin, often off PATH.
  local candidate
  for candidate in "${UV:-}" "$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      echo "$candidate"
      return
    fi
  done
  return 1
}

if ! command -v uv >/dev/null 2>&1; then
  if ! _UV_BIN=$(_uv_find); then
    # Inside a virtualenv (which may have no pip) install with the interpreter it was made from.
    _UV_PY=$(python3 -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
    if ! "$_UV_PY" -m uv --version >/dev/null 2>&1; then
      echo "uv not found: installing it with pip" >&2
      "$_UV_PY" -m pip install --quiet --user uv 2>/dev/null || "$_UV_PY" -m pip install --quiet uv
    fi
    _UV_BIN=$(_uv_find) || _UV_BIN=$("$_UV_PY" -c 'import uv; print(uv.find_uv_bin())')
  fi
  export PATH="$(dirname "$_UV_BIN"):$PATH"
fi
