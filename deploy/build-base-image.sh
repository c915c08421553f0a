#!/usr/bin/env bash
# Builds the local base image qemu-webrtc-base:bookworm without any image registry: a minimal
# Debian 12 made by debootstrap, with this machine's Node.js (binary, headers, npm) copied in,
# imported with `docker import`. Then: BASE_IMAGE=qemu-webrtc-base:bookworm docker compose build.
#
# Idempotent: does nothing when the image exists (--force rebuilds). Needs root, debootstrap, a
# reachable Debian mirror (DEBIAN_MIRROR) and a running Docker engine; starts nothing itself.
#
#   bash deploy/build-base-image.sh [--force]
# Environment: IMAGE (default qemu-webrtc-base:bookworm), DEBIAN_MIRROR
#   (default http://deb.debian.org/debian), NODE (default: the node on PATH).
set -euo pipefail

IMAGE=${IMAGE:-qemu-webrtc-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FORCE=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m[base-image]\033[0m %s\n' "$*"; }
die() { echo "build-base-image: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and docker import)"
command -v docker >/dev/null || die "docker (the CLI) is not installed"
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd first)"
if [ "$FORCE" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "$IMAGE exists (use --force to rebuild)"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi

# Node: the binary must be self-contained apart from glibc/libstdc++ (NodeSource and nodejs.org
# builds are; Debian's nodejs links libnode and is too old anyway).
NODE_BIN=$(readlink -f "${NODE:-$(command -v node)}")
[ -x "$NODE_BIN" ] || die "no node found"
"$NODE_BIN" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=10)?0:1)' ||
  die "Node >= 20.10 needed, $NODE_BIN is $("$NODE_BIN" --version)"
if ldd "$NODE_BIN" | grep -qE 'libnode|libuv|libssl|libcrypto|libicu|not found'; then
  die "$NODE_BIN links shared libraries debootstrap's minbase lacks (Debian's nodejs?): use a nodejs.org or NodeSource build"
fi
NODE_PREFIX=$(dirname "$(dirname "$NODE_BIN")")
[ -f "$NODE_PREFIX/include/node/node_api.h" ] || die "no Node headers in $NODE_PREFIX/include/node"
NPM_DIR=$NODE_PREFIX/lib/node_modules/npm
[ -f "$NPM_DIR/bin/npm-cli.js" ] || die "no npm in $NPM_DIR"

work=$(mktemp -d /var/tmp/qemu-webrtc-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

say "debootstrap bookworm (minbase) from $MIRROR"
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

chmod 0755 "$root"  # the image's / (a 0700 root would lock out the non-root service users)

say "copying Node $("$NODE_BIN" --version) from $NODE_PREFIX"
install -D -m 0755 "$NODE_BIN" "$root/usr/bin/node"
mkdir -p "$root/usr/include" "$root/usr/lib/node_modules"
cp -a "$NODE_PREFIX/include/node" "$root/usr/include/node"
cp -a "$NPM_DIR" "$root/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"

# apt sources as deb822 like the official images (bookworm, updates, security), small images.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
if [ "${MIRROR%/debian}" != "$MIRROR" ]; then
  printf '\nTypes: deb\nURIs: %s/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "${MIRROR%/debian}" >>"$root/etc/apt/sources.list.d/debian.sources"
fi
printf 'APT::Install-Recommends "false";\nAcquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/90qemu-webrtc"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/* "$root"/tmp/*

say "docker import as $IMAGE"
tar -C "$root" --numeric-owner -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --message "debootstrap bookworm minbase + Node $("$NODE_BIN" --version)" \
    - "$IMAGE" >/dev/null
docker run --rm --network none "$IMAGE" node -e 'console.log("node " + process.version + " runs in the image")'
say "done: BASE_IMAGE=$IMAGE"
