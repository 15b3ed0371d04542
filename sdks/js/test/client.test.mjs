// The client's own behaviour against a local scripted HTTP server: configuration, typed errors, retries with
// backoff and Retry-After, timeouts, pagination and waiting. (test/platform.test.mjs covers the real API.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import {
  APIConnectionError,
  APITimeoutError,
  ArtifactNotFoundError,
  CheckpointNotFoundError,
  ConfigurationError,
  DatasetNotFoundError,
  InsufficientResourcesError,
  InternalServerError,
  InvalidStateError,
  JobNotFoundError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  TensorOneAPIError,
  TensorOneClient,
  TensorOneError,
  UnauthorizedError,
  WaitTimeoutError,
} from '../dist/index.js';
import { scriptedServer } from './helpers/scripted-server.mjs';

const KEY = 'sk-test-key';
let server;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function clientFor(steps, options = {}) {
  server = await scriptedServer(steps);
  return new TensorOneClient({ apiKey: KEY, baseURL: server.url, ...options });
}

const JOB = { id: 'job_0123456789abcdef', name: 'j', status: 'running', progress: { percentage: 10 }, metrics: {} };
const PAGE_END = { total: 1, limit: 50, offset: 0, hasMore: false };

describe('configuration', () => {
  test('apiKey and baseURL fall back to TENSORONE_API_KEY and TENSORONE_BASE_URL', async () => {
    server = await scriptedServer([{ body: JOB }]);
    process.env.TENSORONE_API_KEY = 'sk-from-env';
    process.env.TENSORONE_BASE_URL = `${server.url}/`;
    try {
      const client = new TensorOneClient();
      assert.equal(client.baseURL, server.url);
      await client.training.jobs.get('job_0123456789abcdef');
    } finally {
      delete process.env.TENSORONE_API_KEY;
      delete process.env.TENSORONE_BASE_URL;
    }
    assert.equal(server.requests[0].headers.authorization, 'Bearer sk-from-env');
    assert.equal(server.requests[0].url, '/v2/training/jobs/job_0123456789abcdef');
  });

  test('options win over the environment', async () => {
    process.env.TENSORONE_API_KEY = 'sk-from-env';
    try {
      const client = await clientFor([{ body: JOB }]);
      await client.training.jobs.get('job_0123456789abcdef');
    } finally {
      delete process.env.TENSORONE_API_KEY;
    }
    assert.equal(server.requests[0].headers.authorization, `Bearer ${KEY}`);
  });

  test('no API key anywhere is refused when the client is made, before any request', () => {
    delete process.env.TENSORONE_API_KEY;
    assert.throws(() => new TensorOneClient({ baseURL: 'http://127.0.0.1:9' }), (e) => {
      assert.ok(e instanceof TensorOneError);
      assert.match(e.message, /TENSORONE_API_KEY/);
      return true;
    });
  });
});

describe('requests', () => {
  test('create sends the body exactly as given, camelCase config keys included', async () => {
    const client = await clientFor([{ status: 201, body: JOB }]);
    const params = {
      name: 'llama', modelType: 'llm', datasetId: 'ds_0123456789abcdef', gpuType: 'a100', maxWorkers: 2,
      config: {
        baseModel: 'meta-llama/Llama-2-7b-hf', strategy: 'lora',
        parameters: { rank: 16, alpha: 32, dropout: 0.1, targetModules: ['q_proj', 'v_proj'] },
        training: { epochs: 3, batchSize: 4, learningRate: 0.0002, weightDecay: 0.01 },
      },
    };
    const job = await client.training.jobs.create(params);
    assert.equal(job.id, JOB.id);
    assert.equal(server.requests[0].method, 'POST');
    assert.equal(server.requests[0].url, '/v2/training/jobs');
    assert.equal(server.requests[0].headers['content-type'], 'application/json');
    assert.deepEqual(server.requests[0].body, params);
  });

  test('list sends its filters as query parameters and leaves unset ones out', async () => {
    const client = await clientFor([{ body: { jobs: [], pagination: PAGE_END } }]);
    await client.training.jobs.list({ status: 'running', limit: 10, modelType: undefined });
    assert.equal(server.requests[0].url, '/v2/training/jobs?status=running&limit=10');
  });

  test('stop, resume and delete reach their routes with their bodies and parameters', async () => {
    const client = await clientFor([{ body: JOB }, { body: JOB }, { status: 204 }]);
    await client.training.jobs.stop(JOB.id, { saveCheckpoint: true, reason: 'enough' });
    await client.training.jobs.resume(JOB.id, { checkpointId: 'ckpt_epoch_1' });
    assert.equal(await client.training.jobs.delete(JOB.id, { purgeCheckpoints: true }), undefined);
    assert.deepEqual(
      server.requests.map((r) => [r.method, r.url, r.body]),
      [
        ['POST', `/v2/training/jobs/${JOB.id}/stop`, { saveCheckpoint: true, reason: 'enough' }],
        ['POST', `/v2/training/jobs/${JOB.id}/resume`, { checkpointId: 'ckpt_epoch_1' }],
        ['DELETE', `/v2/training/jobs/${JOB.id}?purgeCheckpoints=true`, undefined],
      ],
    );
  });

  test('logs come back as text; followLogs yields the stream as it arrives', async () => {
    const client = await clientFor([{ body: 'line 1\nline 2\n' }, { body: 'a\nb\n' }]);
    assert.equal(await client.training.jobs.logs(JOB.id, { tail: 2 }), 'line 1\nline 2\n');
    let followed = '';
    for await (const chunk of client.training.jobs.followLogs(JOB.id, { worker: 0 })) followed += chunk;
    assert.equal(followed, 'a\nb\n');
    assert.equal(server.requests[0].url, `/v2/training/jobs/${JOB.id}/logs?tail=2`);
    assert.equal(server.requests[1].url, `/v2/training/jobs/${JOB.id}/logs?worker=0&follow=true`);
  });
});

describe('artifacts', () => {
  test("downloadArtifact yields the artifact's bytes as sent; an unknown name is ArtifactNotFoundError", async () => {
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0xc3, 0x28]); // not UTF-8: a text decoder would alter them
    const unknown = { error: 'ARTIFACT_NOT_FOUND', message: 'no merged', details: { availableArtifacts: ['adapter'] } };
    const client = await clientFor([{ body: bytes }, { status: 404, body: unknown }], { maxRetries: 0 });
    const chunks = [];
    for await (const chunk of client.training.jobs.downloadArtifact(JOB.id, 'adapter')) chunks.push(chunk);
    assert.deepEqual(Buffer.concat(chunks), bytes);
    assert.equal(server.requests[0].url, `/v2/training/jobs/${JOB.id}/artifacts/adapter`);
    await assert.rejects(
      async () => {
        for await (const chunk of client.training.jobs.downloadArtifact(JOB.id, 'merged')) chunks.push(chunk);
      },
      (e) => {
        assert.ok(e instanceof ArtifactNotFoundError);
        assert.deepEqual(e.details.availableArtifacts, ['adapter']);
        return true;
      },
    );
  });
});

describe('errors', () => {
  const cases = [
    ['CONFIGURATION_ERROR', 400, ConfigurationError, { field: 'config.training.learning_rate', reason: 'too big' }],
    ['DATASET_NOT_FOUND', 404, DatasetNotFoundError, { datasetId: 'ds_0000000000000000' }],
    ['INSUFFICIENT_RESOURCES', 409, InsufficientResourcesError, { requestedGpuType: 'h100', availableGpuTypes: ['a100'] }],
    ['UNAUTHORIZED', 401, UnauthorizedError, {}],
    ['JOB_NOT_FOUND', 404, JobNotFoundError, { jobId: 'job_0000000000000000' }],
    ['INVALID_STATE', 409, InvalidStateError, { status: 'completed' }],
    ['CHECKPOINT_NOT_FOUND', 404, CheckpointNotFoundError, { checkpointId: 'ckpt_epoch_9' }],
    ['ARTIFACT_NOT_FOUND', 404, ArtifactNotFoundError, { artifact: 'merged', availableArtifacts: ['adapter'] }],
    ['RATE_LIMITED', 429, RateLimitedError, { retryAfter: 3 }],
    ['QUOTA_EXCEEDED', 429, QuotaExceededError, { resource: 'jobs', limit: 20, current: 20 }],
    ['NOT_FOUND', 404, NotFoundError, {}],
    ['INTERNAL_ERROR', 500, InternalServerError, {}],
  ];
  for (const [code, status, Class, details] of cases) {
    test(`${code} becomes ${Class.name} carrying error, message, details and status`, async () => {
      const client = await clientFor([{ status, body: { error: code, message: `message of ${code}`, details } }], {
        maxRetries: 0,
      });
      await assert.rejects(client.training.jobs.get(JOB.id), (e) => {
        assert.ok(e instanceof Class, `${e} is a ${Class.name}`);
        assert.ok(e instanceof TensorOneAPIError);
        assert.equal(e.name, Class.name);
        assert.equal(e.error, code);
        assert.equal(e.message, `message of ${code}`);
        assert.deepEqual(e.details, details);
        assert.equal(e.status, status);
        return true;
      });
    });
  }

  test('ConfigurationError names the field and the reason', async () => {
    const details = { field: 'config.parameters.rank', reason: 'must be less than or equal to 1024' };
    const client = await clientFor([{ status: 400, body: { error: 'CONFIGURATION_ERROR', message: 'Invalid', details } }]);
    await assert.rejects(client.datasets.get('ds_0123456789abcdef'), (e) => {
      assert.equal(e.field, 'config.parameters.rank');
      assert.equal(e.reason, 'must be less than or equal to 1024');
      return true;
    });
  });

  test('an error code this SDK does not know is still a TensorOneAPIError with its code', async () => {
    const client = await clientFor([{ status: 418, body: { error: 'TEAPOT', message: 'short and stout' } }]);
    await assert.rejects(client.training.jobs.get(JOB.id), (e) => {
      assert.equal(e.constructor, TensorOneAPIError);
      assert.equal(e.error, 'TEAPOT');
      assert.deepEqual(e.details, {});
      return true;
    });
  });

  test('a 5xx without an API error body (a proxy page) is an InternalServerError with its status', async () => {
    const client = await clientFor([{ status: 502, body: '<html>Bad gateway</html>' }], { maxRetries: 0 });
    await assert.rejects(client.training.jobs.get(JOB.id), (e) => {
      assert.ok(e instanceof InternalServerError);
      assert.equal(e.error, 'HTTP_502');
      assert.equal(e.status, 502);
      return true;
    });
  });

  test('a refused connection is an APIConnectionError, not an API error', async () => {
    server = await scriptedServer([{ body: JOB }]);
    const url = server.url;
    await server.close();
    server = undefined;
    const client = new TensorOneClient({ apiKey: KEY, baseURL: url, maxRetries: 0 });
    await assert.rejects(client.training.jobs.get(JOB.id), (e) => {
      assert.ok(e instanceof APIConnectionError);
      assert.ok(!(e instanceof TensorOneAPIError));
      return true;
    });
  });
});

const rateLimited = (retryAfter) => ({
  status: 429,
  headers: { 'Retry-After': String(retryAfter) },
  body: { error: 'RATE_LIMITED', message: 'Too many requests', details: { retryAfter } },
});
const unavailable = { status: 503, body: { error: 'INTERNAL_ERROR', message: 'try again' } };

describe('retries', () => {
  test('a GET answered 429 is retried after the Retry-After the server asked for, then succeeds', async () => {
    const client = await clientFor([rateLimited(1), { body: JOB }]);
    const job = await client.training.jobs.get(JOB.id);
    assert.equal(job.id, JOB.id);
    assert.equal(server.requests.length, 2);
    const waited = server.requests[1].at - server.requests[0].at;
    assert.ok(waited >= 950, `retried after ${waited} ms, Retry-After asked for 1000`);
  });

  test('a GET answered 503 is retried with backoff, then succeeds', async () => {
    const client = await clientFor([unavailable, { body: { jobs: [], pagination: PAGE_END } }]);
    const page = await client.training.jobs.list();
    assert.deepEqual(page.jobs, []);
    assert.equal(server.requests.length, 2);
  });

  test('a DELETE answered 503 is retried', async () => {
    const client = await clientFor([unavailable, { status: 204 }]);
    await client.datasets.delete('ds_0123456789abcdef');
    assert.deepEqual(server.requests.map((r) => r.method), ['DELETE', 'DELETE']);
  });

  test('a POST create answered 503 is sent once: a retry could create a second job', async () => {
    const client = await clientFor([unavailable, { status: 201, body: JOB }]);
    await assert.rejects(
      client.training.jobs.create({ name: 'j', modelType: 'llm', datasetId: 'ds_0123456789abcdef', config: {} }),
      InternalServerError,
    );
    assert.equal(server.requests.length, 1);
  });

  test('a POST create answered 429 is sent once too, and the error says how long to wait', async () => {
    const client = await clientFor([rateLimited(2), { status: 201, body: JOB }]);
    await assert.rejects(
      client.training.jobs.create({ name: 'j', modelType: 'llm', datasetId: 'ds_0123456789abcdef', config: {} }),
      (e) => e instanceof RateLimitedError && e.retryAfter === 2,
    );
    assert.equal(server.requests.length, 1);
  });

  test('retries stop after maxRetries and the last error is thrown', async () => {
    const client = await clientFor([unavailable], { maxRetries: 2 });
    await assert.rejects(client.training.jobs.get(JOB.id), InternalServerError);
    assert.equal(server.requests.length, 3);
    const gaps = [1, 2].map((i) => server.requests[i].at - server.requests[i - 1].at);
    assert.ok(gaps[1] > gaps[0], `backoff grows: ${gaps.map(Math.round)} ms`);
  });

  test('QUOTA_EXCEEDED is not retried: waiting does not lift a quota', async () => {
    const quota = { status: 429, body: { error: 'QUOTA_EXCEEDED', message: 'quota', details: {} } };
    const client = await clientFor([quota, { body: JOB }]);
    await assert.rejects(client.training.jobs.get(JOB.id), QuotaExceededError);
    assert.equal(server.requests.length, 1);
  });

  test('a 4xx other than 429 is not retried', async () => {
    const client = await clientFor([{ status: 404, body: { error: 'JOB_NOT_FOUND', message: 'no', details: {} } }]);
    await assert.rejects(client.training.jobs.get(JOB.id), JobNotFoundError);
    assert.equal(server.requests.length, 1);
  });
});

describe('timeouts', () => {
  test('an answer slower than the timeout rejects with APITimeoutError', async () => {
    const client = await clientFor([{ body: JOB, delay: 3000 }], { timeout: 200, maxRetries: 0 });
    await assert.rejects(client.training.jobs.get(JOB.id), APITimeoutError);
    assert.equal(server.requests.length, 1);
  });

  test('a timed-out GET is retried and the next attempt answers', async () => {
    const client = await clientFor([{ body: JOB, delay: 3000 }, { body: JOB }], { timeout: 300 });
    const job = await client.training.jobs.get(JOB.id);
    assert.equal(job.id, JOB.id);
    assert.equal(server.requests.length, 2);
  });

  test('a per-request timeout overrides the client one', async () => {
    const client = await clientFor([{ body: JOB, delay: 1000 }], { timeout: 60_000 });
    await assert.rejects(client.training.jobs.get(JOB.id, { timeout: 100, maxRetries: 0 }), APITimeoutError);
  });

  test("the caller's AbortSignal cancels a request with the signal's reason", async () => {
    const client = await clientFor([{ body: JOB, delay: 3000 }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user gave up')), 100);
    await assert.rejects(client.training.jobs.get(JOB.id, { signal: controller.signal }), /user gave up/);
    assert.equal(server.requests.length, 1);
  });
});

describe('pagination', () => {
  test('listAll walks every page by offset until hasMore is false', async () => {
    const ids = Array.from({ length: 5 }, (_, i) => `job_000000000000000${i}`);
    const client = await clientFor([
      (request) => {
        const url = new URL(request.url, 'http://x');
        const offset = Number(url.searchParams.get('offset'));
        const limit = Number(url.searchParams.get('limit'));
        const jobs = ids.slice(offset, offset + limit).map((id) => ({ ...JOB, id }));
        return { body: { jobs, pagination: { total: ids.length, limit, offset, hasMore: offset + limit < ids.length } } };
      },
    ]);
    const seen = [];
    for await (const job of client.training.jobs.listAll({ status: 'running', limit: 2 })) seen.push(job.id);
    assert.deepEqual(seen, ids);
    const asked = server.requests.map((r) => Object.fromEntries(new URL(r.url, 'http://x').searchParams));
    assert.deepEqual(asked, [0, 2, 4].map((offset) => ({ status: 'running', limit: '2', offset: String(offset) })));
  });
});

describe('waiting', () => {
  const at = (status, percentage, updatedAt) => ({ body: { ...JOB, status, updatedAt, progress: { percentage } } });

  test('wait resolves with the finished job and calls onProgress once per change', async () => {
    const client = await clientFor([
      at('pending', 0, 't0'), at('pending', 0, 't0'), at('running', 50, 't1'), at('running', 50, 't1'),
      at('completed', 100, 't2'),
    ]);
    const seen = [];
    const job = await client.training.jobs.wait(JOB.id, {
      pollInterval: 10,
      onProgress: (j) => seen.push(`${j.status} ${j.progress.percentage}`),
    });
    assert.equal(job.status, 'completed');
    assert.deepEqual(seen, ['pending 0', 'running 50', 'completed 100']);
    assert.equal(server.requests.length, 5);
  });

  test('watch yields each change and ends after a finished status', async () => {
    const client = await clientFor([at('running', 10, 't1'), at('running', 20, 't2'), at('failed', 20, 't3')]);
    const seen = [];
    for await (const job of client.training.jobs.watch(JOB.id, { pollInterval: 10 })) seen.push(job.status);
    assert.deepEqual(seen, ['running', 'running', 'failed']);
  });

  test('wait gives up after its timeout with WaitTimeoutError carrying the last job', async () => {
    const client = await clientFor([at('running', 10, 't1')]);
    await assert.rejects(client.training.jobs.wait(JOB.id, { pollInterval: 20, timeout: 150 }), (e) => {
      assert.ok(e instanceof WaitTimeoutError);
      assert.equal(e.job.status, 'running');
      return true;
    });
  });
});

describe('the package', () => {
  test('npm pack publishes only dist/, README.md and package.json, with every entry point present', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
    const files = JSON.parse(stdout)[0].files.map((f) => f.path);
    const stray = files.filter((f) => !f.startsWith('dist/') && !['README.md', 'package.json', 'LICENSE'].includes(f));
    assert.deepEqual(stray, []);
    for (const entry of ['dist/index.js', 'dist/index.d.ts', 'dist/generated/openapi.d.ts']) {
      assert.ok(files.includes(entry), `${entry} is published`);
    }
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
    assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
  });
});
