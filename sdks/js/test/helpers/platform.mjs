// The local platform for the SDK's tests: `tensorone sandbox up --with-operator --with-facade` in a temporary
// folder (the same platform the Python integration tests and `make demo` use), with a tiny model and a dataset
// on its dataset volume. Python comes from $TENSORONE_PYTHON, else the repository's .venv (as CI builds it).
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const SDK_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO_ROOT = resolve(SDK_ROOT, '..', '..');
const START_TIMEOUT_MS = 120_000;

export function pythonPath() {
  return process.env.TENSORONE_PYTHON || join(REPO_ROOT, '.venv', 'bin', 'python');
}

/** The environment of the platform's processes: this checkout's code first, no model hub downloads. */
function pythonEnv() {
  const paths = [join(REPO_ROOT, 'operator'), join(REPO_ROOT, 'trainer-image')];
  if (process.env.PYTHONPATH) paths.push(process.env.PYTHONPATH);
  return { ...process.env, PYTHONPATH: paths.join(delimiter), HF_HUB_OFFLINE: '1', PYTHONUNBUFFERED: '1' };
}

/** Start the platform; resolves with `{dir, apiURL, apiKey, stop}` once the sandbox printed its `ready` line. */
export async function startPlatform({ gpus = 'a100=4' } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'tensorone-js-sdk-'));
  const python = pythonPath();
  const child = spawn(
    python,
    ['-m', 'tensorone', 'sandbox', 'up', '--dir', dir, '--gpus', gpus, '--with-operator', '--with-facade'],
    { env: pythonEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const ready = new Promise((resolveReady, rejectReady) => {
    const timer = setTimeout(() => rejectReady(new Error(`no ready line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    const onData = (data) => {
      output += data;
      if (/^ready /m.test(output)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      clearTimeout(timer);
      rejectReady(new Error(`could not run ${python} (set TENSORONE_PYTHON): ${error.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      rejectReady(new Error(`the sandbox exited with ${code} before ready`));
    });
  });
  const stop = async () => {
    try {
      await run(python, ['-m', 'tensorone', 'sandbox', 'down', '--dir', dir], { env: pythonEnv(), timeout: 60_000 });
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    await ready;
  } catch (error) {
    await stop().catch(() => undefined);
    throw new Error(`${error.message}\n${output.slice(-4000)}`);
  }
  const apiURL = (await readFile(join(dir, 'api-url'), 'utf8')).trim();
  const apiKey = (await readFile(join(dir, 'api-key'), 'utf8')).trim();
  return { dir, apiURL, apiKey, stop };
}

/** Build the tiny model and the text dataset on the platform's dataset volume; their in-cluster paths. */
export async function prepareAssets(platform) {
  const script = join(SDK_ROOT, 'test', 'helpers', 'prepare_assets.py');
  const { stdout } = await run(pythonPath(), [script, platform.dir], { env: pythonEnv(), timeout: 300_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1));
}
