#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler) from
# Debian's `kubernetes` source package and installs etcd, for `tensorone sandbox`.
#
# Why from source: the package registries reachable here are Debian's, PyPI and npm; Debian bookworm ships the
# whole Kubernetes 1.20.2 tree (with vendor/) as a source package but builds only a few binaries from it.
# Why 1.20.2: sid's 1.36 source package has its vendor/ stripped and would need every Go dependency from
# Debian's golang-* packages (hundreds, many at other versions) - see docs/real-kubernetes.md.
#
# The binaries are cached outside the checkout, keyed by version: a second run prints the path and exits in
# well under a second. Output: the cache's bin/ folder on the last line of stdout.
set -euo pipefail

KUBE_DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1"
KUBE_VERSION="v1.20.2"
# Bumped whenever the patches below change, so a cache built without them is rebuilt.
BUILD_REVISION="2"
CACHE_ROOT="${TENSORONE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tensorone}"
PREFIX="$CACHE_ROOT/kubernetes/$KUBE_VERSION-r$BUILD_REVISION"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)
APT_PACKAGES=(golang-go etcd-server rsync jq golang-github-modern-go-reflect2-dev iproute2 iptables dpkg-dev)

say() { echo "[kubernetes] $*" >&2; }
die() { echo "[kubernetes] error: $*" >&2; exit 1; }

cached() {
  for b in "${BINARIES[@]}"; do [ -x "$PREFIX/bin/$b" ] || return 1; done
  [ -x "$PREFIX/bin/etcd" ] || return 1
}

# --where: print the bin folder the sandbox reads (built or not) and stop: the version lives here alone.
if [ "${1:-}" = "--where" ]; then
  echo "$PREFIX/bin"
  exit 0
fi

if cached; then
  echo "$PREFIX/bin"
  exit 0
fi

[ -r /etc/debian_version ] && command -v apt-get >/dev/null \
  || die "building the control plane needs Debian (apt-get and Debian's source packages); this machine is not Debian"
[ "$(id -u)" = 0 ] || die "building the control plane installs Debian packages: run as root (or with sudo)"

mkdir -p "$PREFIX/bin" "$CACHE_ROOT/kubernetes/src"
exec 9>"$CACHE_ROOT/kubernetes/.lock"
flock 9
if cached; then echo "$PREFIX/bin"; exit 0; fi

# A deb-src entry for the Debian suites this machine already uses (same mirror, same keyring).
SRC_LIST=/etc/apt/sources.list.d/tensorone-src.sources
if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q "^Version: $KUBE_DEB_VERSION\$"; then
  if [ ! -f "$SRC_LIST" ]; then
    base=$(ls /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$base" ] || die "no /etc/apt/sources.list.d/debian.sources to derive a deb-src entry from"
    sed -e 's/^Types: deb$/Types: deb-src/' "$base" \
      | awk 'BEGIN{RS="";ORS="\n\n"} /Suites: bookworm bookworm-updates/' > "$SRC_LIST"
    [ -s "$SRC_LIST" ] || die "could not find the bookworm entry in $base"
  fi
  say "apt-get update (source lists)"
  apt-get update -qq
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

SRC="$CACHE_ROOT/kubernetes/src/$KUBE_VERSION"
rm -rf "$SRC" && mkdir -p "$SRC"
say "downloading the kubernetes $KUBE_DEB_VERSION source package"
( cd "$CACHE_ROOT/kubernetes/src" && apt-get source --download-only -qq "kubernetes=$KUBE_DEB_VERSION" >/dev/null )
tar -xzf "$CACHE_ROOT/kubernetes/src/kubernetes_${KUBE_DEB_VERSION%%-*}.orig.tar.gz" -C "$SRC" --strip-components=1

# k8s 1.20 vendors modern-go/reflect2 v1.0.1, which faults in map iteration under Go >= 1.18; Debian's 1.0.2 fixes it.
say "replacing vendored reflect2 v1.0.1 with Debian's v1.0.2"
rm -rf "$SRC/vendor/github.com/modern-go/reflect2"
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$SRC/vendor/github.com/modern-go/reflect2"
sed -i 's#github.com/modern-go/reflect2 v1.0.1#github.com/modern-go/reflect2 v1.0.2#' "$SRC/go.mod" "$SRC/vendor/modules.txt"
sed -i '/github.com\/modern-go\/reflect2 v1.0.1/d' "$SRC/go.sum"

# k8s 1.20 was released built with Go 1.15. Under Go >= 1.16 reflect.Zero shares one zero value, and the OpenAPI
# type check `reflect.DeepEqual(reflect.Zero(T), reflect.ValueOf(data))` starts to hold for "" and 0: custom
# resources with an empty string (or a CRD with `default: ""`) are refused as "must be of type string: null".
# Upstream removed that check (kubernetes/kubernetes#99804, kube-openapi#230) before building with Go 1.16.
say "applying the upstream fix for empty values in CRD validation under Go >= 1.16"
for f in "$SRC/vendor/github.com/go-openapi/validate/type.go" "$SRC/vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go"; do
  [ -f "$f" ] || continue
  sed -i 's/if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {/if data == nil {/' "$f"
  grep -q 'if data == nil {' "$f" || die "could not patch $f"
done

mkdir -p "$SRC/.go/src/k8s.io"
ln -sfn ../../.. "$SRC/.go/src/k8s.io/kubernetes"
say "building ${BINARIES[*]} (about 11 minutes on 2 cores the first time)"
start=$(date +%s)
(
  cd "$SRC/.go/src/k8s.io/kubernetes"
  export GOPATH="$SRC/.go" CGO_ENABLED=0 GOFLAGS=-mod=vendor GO111MODULE=on
  export KUBE_GIT_VERSION="$KUBE_VERSION" KUBE_GIT_TREE_STATE=clean
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >&2
)
for b in "${BINARIES[@]}"; do
  install -m 0755 "$SRC/_output/local/bin/linux/$(dpkg --print-architecture)/$b" "$PREFIX/bin/$b" \
    || install -m 0755 "$SRC/_output/bin/$b" "$PREFIX/bin/$b"
done
ln -sfn "$(command -v etcd)" "$PREFIX/bin/etcd"
say "built in $(( $(date +%s) - start )) s; binaries in $PREFIX/bin"
rm -rf "$SRC"
echo "$PREFIX/bin"
