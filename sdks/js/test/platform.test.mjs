// The SDK against the real platform (sandbox + operator + REST facade + trainer): the seed's example to
// completion, typed errors as the API sends them, pagination, and the committed types against the served OpenAPI.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import {
  ConfigurationError,
  DatasetNotFoundError,
  JobNotFoundError,
  TensorOneClient,
  UnauthorizedError,
} from '../dist/index.js';
import { prepareAssets, SDK_ROOT, startPlatform } from './helpers/platform.mjs';

const run = promisify(execFile);
let platform;
let client;
let assets;
let datasetId;

before(async () => {
  platform = await startPlatform();
  client = new TensorOneClient({ apiKey: platform.apiKey, baseURL: platform.apiURL, timeout: 30_000 });
  assets = await prepareAssets(platform);
  const dataset = await client.datasets.create({ name: 'docs', format: 'jsonl', source: assets.source });
  datasetId = dataset.id;
});

after(async () => {
  await platform?.stop();
});

function llmJob(overrides = {}) {
  return {
    name: 'sdk-test',
    modelType: 'llm',
    datasetId,
    gpuType: 'a100',
    config: { baseModel: assets.baseModel, training: { epochs: 1, batch_size: 4, max_seq_length: 48 } },
    ...overrides,
  };
}

async function jobCount() {
  return (await client.training.jobs.list({ limit: 1 })).pagination.total;
}

describe('the seed example', () => {
  test('runs as written and prints progress until the job completed', async () => {
    const { stdout } = await run(process.execPath, [join(SDK_ROOT, 'examples', 'first-job.mjs')], {
      cwd: SDK_ROOT,
      env: {
        ...process.env,
        TENSORONE_API_KEY: platform.apiKey,
        TENSORONE_BASE_URL: platform.apiURL,
        DATASET_ID: datasetId,
        BASE_MODEL: assets.baseModel,
      },
      timeout: 600_000,
    });
    const jobId = stdout.match(/^Job created: (job_[0-9a-f]{16})$/m)?.[1];
    assert.ok(jobId, stdout);
    assert.match(stdout, /^Progress: 100%$/m);
    assert.match(stdout, /^Current loss: \d+(\.\d+)?(e-?\d+)?$/m);
    assert.match(stdout, /^Job finished with status: completed$/m);

    const job = await client.training.jobs.get(jobId);
    assert.equal(job.status, 'completed');
    // The camelCase keys of the example reached the job's configuration (the API fills its own spelling).
    assert.equal(job.config.training.batch_size, 4);
    assert.equal(job.config.training.weight_decay, 0.01);
    assert.deepEqual(job.config.parameters.target_modules, ['q_proj', 'v_proj']);

    const points = await client.training.jobs.metrics(jobId);
    assert.ok(points.length > 0 && points.every((p) => typeof p.step === 'number'));
    assert.ok((await client.training.jobs.checkpoints(jobId)).length > 0);
    assert.ok((await client.training.jobs.events(jobId)).length > 0);
  });
});

describe('errors as the API sends them', () => {
  test('an out-of-range field is a ConfigurationError naming the field, and nothing is created', async () => {
    const before = await jobCount();
    const bad = llmJob({ config: { baseModel: assets.baseModel, training: { learning_rate: 5 } } });
    await assert.rejects(client.training.jobs.create(bad), (e) => {
      assert.ok(e instanceof ConfigurationError);
      assert.equal(e.error, 'CONFIGURATION_ERROR');
      assert.equal(e.status, 400);
      assert.equal(e.field, 'config.training.learning_rate');
      assert.equal(e.details.field, 'config.training.learning_rate');
      assert.ok(e.reason);
      return true;
    });
    assert.equal(await jobCount(), before);
  });

  test('an unknown job is a JobNotFoundError carrying its id', async () => {
    await assert.rejects(client.training.jobs.get('job_0000000000000000'), (e) => {
      assert.ok(e instanceof JobNotFoundError);
      assert.equal(e.status, 404);
      assert.equal(e.details.jobId, 'job_0000000000000000');
      return true;
    });
  });

  test('an unknown dataset is a DatasetNotFoundError carrying its id', async () => {
    await assert.rejects(client.training.jobs.create(llmJob({ datasetId: 'ds_0000000000000000' })), (e) => {
      assert.ok(e instanceof DatasetNotFoundError);
      assert.equal(e.details.datasetId, 'ds_0000000000000000');
      return true;
    });
  });

  test('an unknown API key is an UnauthorizedError', async () => {
    const stranger = new TensorOneClient({ apiKey: 'not-a-key', baseURL: platform.apiURL });
    await assert.rejects(stranger.training.jobs.list(), (e) => e instanceof UnauthorizedError && e.status === 401);
  });
});

describe('pagination', () => {
  test('datasets.listAll walks several pages and yields every dataset once', async () => {
    for (let i = 0; i < 4; i++) {
      await client.datasets.create({ name: `extra-${i}`, format: 'jsonl', source: assets.source });
    }
    const everything = await client.datasets.list({ limit: 100 });
    const walked = [];
    for await (const dataset of client.datasets.listAll({ limit: 2 })) walked.push(dataset.id);
    assert.ok(everything.pagination.total >= 5);
    assert.equal(walked.length, everything.pagination.total);
    assert.deepEqual([...walked].sort(), everything.datasets.map((d) => d.id).sort());
  });

  test('training.jobs.listAll walks several pages of jobs', async () => {
    const created = [];
    for (let i = 0; i < 3; i++) {
      const job = await client.training.jobs.create(llmJob({ name: `page-${i}` }));
      created.push(job.id);
    }
    try {
      const walked = [];
      for await (const job of client.training.jobs.listAll({ limit: 1, sort: 'name', order: 'asc' })) walked.push(job);
      const total = await jobCount();
      assert.ok(total >= 3);
      assert.equal(walked.length, total);
      assert.equal(new Set(walked.map((j) => j.id)).size, total);
      for (const id of created) assert.ok(walked.some((j) => j.id === id), `${id} listed`);
      const names = walked.map((j) => j.name);
      assert.deepEqual(names, [...names].sort());
    } finally {
      for (const id of created) await client.training.jobs.delete(id);
    }
  });
});

describe('generated types', () => {
  test('the committed types are what the generator makes of the served OpenAPI document', async () => {
    const response = await fetch(`${platform.apiURL}/openapi.json`);
    assert.equal(response.status, 200);
    const dir = await mkdtemp(join(tmpdir(), 'tensorone-types-'));
    try {
      await writeFile(join(dir, 'openapi.json'), await response.text());
      await run(process.execPath, [
        join(SDK_ROOT, 'scripts', 'generate-types.mjs'), join(dir, 'openapi.json'), join(dir, 'openapi.ts'),
      ]);
      const served = await readFile(join(dir, 'openapi.ts'), 'utf8');
      const committed = await readFile(join(SDK_ROOT, 'src', 'generated', 'openapi.ts'), 'utf8');
      assert.ok(served === committed, 'src/generated/openapi.ts differs from the served API: run `make sdk-js-types`');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
