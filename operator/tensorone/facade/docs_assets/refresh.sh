#!/usr/bin/env bash
# Vendor the API docs pages' assets (`make docs-assets`): /docs (Swagger UI) and /redoc (ReDoc) are served from
# these files, so they work offline and behind a firewall. Pinned versions; each package's licence comes along.
set -euo pipefail
SWAGGER_UI_DIST=5.35.0   # npm swagger-ui-dist, Apache-2.0
REDOC=2.5.4              # npm redoc (2.x: the bundle FastAPI's get_redoc_html is written for), MIT

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "swagger-ui-dist@$SWAGGER_UI_DIST" "redoc@$REDOC" >/dev/null
mkdir swagger redoc
tar xzf "swagger-ui-dist-$SWAGGER_UI_DIST.tgz" -C swagger
tar xzf "redoc-$REDOC.tgz" -C redoc
rm -rf "$here/swagger-ui" "$here/redoc"
mkdir -p "$here/swagger-ui" "$here/redoc"
for f in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "swagger/package/$f" "$here/swagger-ui/$f"
done
for f in bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE; do
  cp "redoc/package/$f" "$here/redoc/$(basename "$f")"
done
# The bundles end with a sourceMappingURL to maps not vendored; browsers would ask for them and log a 404.
sed -i '/^\/\/# sourceMappingURL=/d' "$here/swagger-ui/swagger-ui-bundle.js" "$here/redoc/redoc.standalone.js"
sed -i 's|/\*# sourceMappingURL=.*\*/||' "$here/swagger-ui/swagger-ui.css"
printf 'swagger-ui-dist %s\nredoc %s\n' "$SWAGGER_UI_DIST" "$REDOC" > "$here/VERSIONS"
echo "vendored swagger-ui-dist $SWAGGER_UI_DIST and redoc $REDOC into $here"
