#!/usr/bin/env bash
# Installs the whole toolchain for this project, idempotently, outside the checkout:
# wasm32 target, cargo-leptos (patched lock file), wasm-bindgen-cli (patched lock file),
# wasm-opt from npm binaryen@132, Debian chromium and postgresql, and end2end/ npm packages.
# Everything already present at the right version is skipped. See ../shared/toolchain.md.
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=0.2.130
BINARYEN_VERSION=132.0.0
TOOLS_DIR="${CHAT_TOOLS_DIR:-$HOME/.cache/chat-tools}"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

START=$SECONDS
log() { printf '[setup %4ds] %s\n' "$((SECONDS - START))" "$*"; }

# Runs a command with the cheapest release profile that still builds a working tool.
cheap_release_profile() {
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_DEBUG=false \
  CARGO_PROFILE_RELEASE_INCREMENTAL=false "$@"
}
export PATH="$TOOLS_DIR/node_modules/.bin:$CARGO_BIN:$PATH"

# Unpacks a crate from the registry cache into a scratch dir and prints its path.
unpack_crate() {
  local name=$1 version=$2 dir
  dir="$TOOLS_DIR/src/$name-$version"
  if [ ! -d "$dir" ]; then
    cargo info "$name@$version" >/dev/null 2>&1 || true
    local crate
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate" 2>/dev/null | head -n1)
    [ -n "$crate" ] || { echo "cannot fetch $name $version from the registry" >&2; exit 1; }
    mkdir -p "$TOOLS_DIR/src"
    tar -xzf "$crate" -C "$TOOLS_DIR/src"
  fi
  printf '%s' "$dir"
}

# 1. wasm target
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 2. wasm-bindgen-cli, same version as the crate pinned in Cargo.toml
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  dir=$(unpack_crate wasm-bindgen-cli "$WASM_BINDGEN_VERSION")
  (cd "$dir" && cargo update -p webpki-roots --precise 1.0.10 >/dev/null 2>&1 || true)
  cargo install --path "$dir" --locked --force
fi

# 3. cargo-leptos with no_downloads
if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 10 minutes)"
  dir=$(unpack_crate cargo-leptos "$CARGO_LEPTOS_VERSION")
  (cd "$dir" && cargo update -p cargo-util-schemas --precise 0.14.1 >/dev/null 2>&1 || true)
  # A build tool needs no optimisation: opt-level 0, no LTO, many codegen units and no
  # debug info cut the install from about 20 minutes to the figure in the README.
  cheap_release_profile cargo install --path "$dir" --locked --features no_downloads --force
fi

# 4. wasm-opt from npm binaryen (Debian's 108 breaks hydration)
if ! "$TOOLS_DIR/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
  log "installing binaryen@$BINARYEN_VERSION into $TOOLS_DIR"
  mkdir -p "$TOOLS_DIR"
  (cd "$TOOLS_DIR" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
     && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION")
fi

# 4b. Lighthouse for make bench (12.2.3: the last release for Node 20),
#     run with Debian's chromium
LIGHTHOUSE_VERSION=12.2.3
if ! "$TOOLS_DIR/node_modules/.bin/lighthouse" --version 2>/dev/null | grep -qx "$LIGHTHOUSE_VERSION"; then
  log "installing lighthouse@$LIGHTHOUSE_VERSION into $TOOLS_DIR"
  mkdir -p "$TOOLS_DIR"
  (cd "$TOOLS_DIR" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
     && npm install --no-audit --no-fund --silent "lighthouse@$LIGHTHOUSE_VERSION")
fi

# 5. Debian chromium for Playwright
if [ ! -x /usr/bin/chromium ]; then
  log "installing Debian chromium"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# 6. Debian PostgreSQL for the PostgreSQL store's tests (they start and
#    remove throw-away clusters of their own; no service needs to run)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing Debian postgresql"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

# 7. end2end npm packages (no browser download: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD)
if [ -f "$ROOT/end2end/package-lock.json" ]; then
  stamp="$ROOT/end2end/node_modules/.lock-stamp"
  if [ ! -f "$stamp" ] || ! cmp -s "$stamp" "$ROOT/end2end/package-lock.json"; then
    log "npm ci in end2end/"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
    cp "$ROOT/end2end/package-lock.json" "$stamp"
  fi
fi
log "toolchain ready"
