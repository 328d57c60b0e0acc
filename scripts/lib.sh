# Shared shell helpers for setup, tests and benches. Source it; do not run it.
set -euo pipefail
# PIPES: never pipe into a reader that stops early (head, grep -q, sed q) under pipefail: the
# writer gets SIGPIPE (curl: exit 23) when the reader exits first, and the script dies at
# random. Write to a file or a variable, then cut it (${text:0:300}, grep -q FILE).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${TESTCAR_TOOLS:-$ROOT/.tools}"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$TOOLS/node_modules/.bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# apt_install PKG...: install the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for p in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" == *"install ok installed"* ]] ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  local stamp="$TOOLS/.apt-updated"
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +600 2>/dev/null)" ]; then
    $SUDO apt-get update -qq && touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm_install PKG@VER...: install npm packages into .tools/node_modules when missing.
npm_install() {
  local missing=()
  for spec in "$@"; do
    local name="${spec%@*}"
    [ -z "$name" ] && name="$spec"
    [ -d "$TOOLS/node_modules/$name" ] || missing+=("$spec")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "npm install ${missing[*]}"
  (cd "$TOOLS" && [ -f package.json ] || echo '{"private":true}' > "$TOOLS/package.json")
  (cd "$TOOLS" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "${missing[@]}" >/dev/null)
}

# pip_install MODULE=PKG...: pip-install PKG when python cannot import MODULE.
pip_install() {
  local missing=()
  for pair in "$@"; do
    local mod="${pair%%=*}" pkg="${pair#*=}"
    python3 -c "import $mod" 2>/dev/null || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "pip install ${missing[*]}"
  python3 -m pip install -q --disable-pip-version-check "${missing[@]}"
}

# build_test_bins: build every binary and example with the feature set `make test` uses, so
# the tool checks reuse the test build instead of compiling a second feature combination.
build_test_bins() {
  (cd "$ROOT" && cargo build -q --workspace --all-features --bins --examples)
}

# free_port: print a free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# mk_tls DIR: a throw-away CA (DIR/ca.crt) and a serving certificate for 127.0.0.1 and
# localhost (DIR/tls.crt, DIR/tls.key), for starting the injector on this machine.
mk_tls() {
  local dir="$1"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=testcar-demo-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=testcar-injector" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$dir/san.ext"
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 1 -extfile "$dir/san.ext" -out "$dir/tls.crt" 2>/dev/null
}

# wait_http URL [TRIES]: poll URL (0.1 s apart) until it answers 2xx; fail after TRIES
# (default 600: at least a minute, for a loaded machine).
wait_http() {
  local url="$1" tries="${2:-600}"
  for _ in $(seq "$tries"); do
    curl -fsS --max-time 5 "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "no answer from $url" >&2
  return 1
}

# wait_until SECONDS WHAT COMMAND...: run COMMAND every 0.2 s until it succeeds; fail, naming
# WHAT, once SECONDS have passed.
wait_until() {
  local limit="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "timed out after ${limit}s waiting for $what" >&2
      return 1
    fi
    sleep 0.2
  done
}

