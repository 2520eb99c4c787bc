#!/usr/bin/env bash
# Runs a command with KEYNET_SMALL_DISK naming an empty 4 MiB tmpfs of its own, mounted in a private
# mount namespace (unshare: as root, or through an unprivileged user namespace), so that a test can fill
# a real filesystem without touching the machine's. Exits 77 (CTest's "skipped") where no such mount
# can be made, and says why.
# usage: scripts/with-small-disk.sh COMMAND [ARGS...]
set -euo pipefail
if [ -z "${KEYNET_SMALL_DISK_NAMESPACE:-}" ]; then
  if ! unshare -rm true 2>/dev/null; then
    echo "skipped: this machine does not allow a private mount namespace (unshare -rm), so no small disk" >&2
    exit 77
  fi
  KEYNET_SMALL_DISK_NAMESPACE=1 exec unshare -rm bash "$0" "$@"
fi
disk=$(mktemp -d)
mount -t tmpfs -o size=4m tmpfs "$disk"
KEYNET_SMALL_DISK="$disk" "$@"
