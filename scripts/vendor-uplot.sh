#!/usr/bin/env bash
# Refresh the dashboard's vendored chart library (uPlot, MIT) from the npm registry: `make vendor-uplot`.
# npm pack checks the tarball against the registry's integrity hash; the ES module, its CSS and the licence are
# copied into the package, with the version and that hash beside them. Commit the result.
set -euo pipefail
VERSION="${UPLOT_VERSION:-1.6.32}"
DEST="$(cd "$(dirname "$0")/.." && pwd)/operator/tensorone/facade/dashboard/static/vendor/uplot"
command -v npm >/dev/null || { echo "vendor-uplot: npm is needed (apt-get install npm)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@${VERSION}" >/dev/null && tar xzf "uplot-${VERSION}.tgz")
mkdir -p "$DEST"
cp "$work/package/dist/uPlot.esm.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$DEST/"
{
  echo "uplot ${VERSION} from the npm registry (npm pack uplot@${VERSION})"
  echo "integrity $(npm view "uplot@${VERSION}" dist.integrity)"
  echo "files: dist/uPlot.esm.js dist/uPlot.min.css LICENSE"
} > "$DEST/VERSION"
echo "vendored uplot ${VERSION} into ${DEST#"$PWD"/}"
