#!/usr/bin/env bash
# The project's test command (README, CI): install what the tests need when we can, build,
# check the layers, regenerate-and-compare the syscall docs, then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
command -v python3 >/dev/null || need_pkgs+=(python3)
command -v mkfs.ext4 >/dev/null || need_pkgs+=(e2fsprogs)
command -v sfdisk >/dev/null || need_pkgs+=(fdisk)
command -v sgdisk >/dev/null || need_pkgs+=(gdisk)
command -v getfattr >/dev/null || need_pkgs+=(attr)
command -v bsdtar >/dev/null || need_pkgs+=(libarchive-tools)
command -v fsck.fat >/dev/null || need_pkgs+=(dosfstools)
command -v mcopy >/dev/null || need_pkgs+=(mtools)
command -v linux.uml >/dev/null || need_pkgs+=(user-mode-linux)
command -v insmod >/dev/null || need_pkgs+=(kmod)
command -v socat >/dev/null || need_pkgs+=(socat)
command -v ip >/dev/null || need_pkgs+=(iproute2)
command -v ping >/dev/null || need_pkgs+=(iputils-ping)
command -v fusermount3 >/dev/null || need_pkgs+=(fuse3)
command -v git >/dev/null || need_pkgs+=(git)
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
command -v rsync >/dev/null || need_pkgs+=(rsync)
command -v dnsmasq >/dev/null || need_pkgs+=(dnsmasq-base)
command -v setpriv >/dev/null || need_pkgs+=(util-linux)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  else
    echo "test.sh: missing ${need_pkgs[*]} (not root: tests needing them will skip)"
  fi
fi

[ -d node_modules/typescript ] || npm install --no-audit --no-fund
npx tsc -p tsconfig.json
node scripts/check-layers.mjs
node dist/scripts/gen-syscalls-doc.js > /tmp/lkl-syscalls.md
if ! cmp -s /tmp/lkl-syscalls.md docs/syscalls.md; then
  echo "docs/syscalls.md is stale: run npm run docs:syscalls" >&2
  exit 1
fi
# Every *.test.js under dist/ (unit tests beside the code, suites under test/).
mapfile -t files < <(find dist/src dist/test -name '*.test.js' | sort)
node --test --test-concurrency=2 "${files[@]}"
