#!/usr/bin/env bash
# install-deps.sh: install the Debian packages Parley needs to build, run and test.
# Only what is missing is installed (checked with dpkg-query first), and `apt-get update`
# runs only when something is missing, so a ready machine pays nothing.
set -euo pipefail

# Each library is there for a reason written down in docs/design/dependencies.md.
pkgs=(
  build-essential cmake pkg-config
  libwebsockets-dev libzmq3-dev libmsgpack-dev libpq-dev libjwt-dev
  libuv1-dev libjansson-dev libssl-dev libczmq-dev libcurl4-openssl-dev
  postgresql-15 postgresql-client-15
  clang openssl curl ca-certificates
  chromium nginx-light docker-compose  # demo e2e test, load-balancer test, compose validation
)
# Node 20+ for the integration tests: the distribution's nodejs + npm only when no node
# is on the PATH (a node from elsewhere ships its own npm).
if ! command -v node >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all system packages present"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install-deps: not root and no password-less sudo; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=()
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 18)); then
  echo "install-deps: warning: node $(node --version 2>/dev/null) is older than 18; integration tests need Node 20" >&2
fi
echo "install-deps: done"
