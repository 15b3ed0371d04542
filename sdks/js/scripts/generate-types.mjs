// Generate src/generated/openapi.ts from an OpenAPI document: the one place the generator's options live,
// used by `make sdk-js-types` and by the test that compares the committed types with the served document.
//   node scripts/generate-types.mjs <openapi.json> <out.ts>
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/generate-types.mjs <openapi.json> <out.ts>');
  process.exit(2);
}
// --default-non-nullable=false: a field with a default is optional in a request (`maxWorkers`, `priority`, ...)
// as the server treats it, instead of required.
execFileSync(
  process.execPath,
  [join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js'), input, '--default-non-nullable=false', '-o', output],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
