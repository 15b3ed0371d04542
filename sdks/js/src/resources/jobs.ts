/** `client.training.jobs`: the `/v2/training/jobs` resource. */

import { WaitTimeoutError } from '../errors.js';
import { DEFAULT_PAGE_SIZE, paginate } from '../pagination.js';
import { sleep } from '../sleep.js';
import type { RequestOptions, Transport } from '../transport.js';
import type {
  Checkpoint,
  CompactCreateResponse,
  CreateJobCompactParams,
  CreateJobParams,
  DeleteJobParams,
  Job,
  JobEvent,
  JobList,
  JobLogsParams,
  JobSummary,
  ListJobsParams,
  MetricPoint,
  ResumeJobParams,
  StopJobParams,
} from '../types.js';

/** Statuses a job does not leave by itself. */
export const FINISHED_STATUSES: ReadonlySet<string> = new Set(['completed', 'failed', 'stopped', 'cancelled']);

/** Milliseconds between two reads of a watched job, unless told otherwise. */
export const DEFAULT_POLL_INTERVAL = 2_000;

export interface WatchOptions {
  /** Milliseconds between two reads of the job (default 2000). */
  pollInterval?: number;
  /** Ends the watch: the iteration rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface WaitOptions extends WatchOptions {
  /** Called with the job each time it changed (the first read included). */
  onProgress?: (job: Job) => void | Promise<void>;
  /** Milliseconds before giving up with `WaitTimeoutError` (default: no limit). */
  timeout?: number;
}

/**
 * What a person watching the job would see change. `estimatedCompletion` is left out: the API computes it
 * from the time of the request, so it differs on every read of a running job.
 */
function fingerprint(job: Job): string {
  return JSON.stringify([job.status, job.updatedAt, job.progress, job.metrics, job.checkpoints?.length, job.error]);
}

function jobPath(jobId: string, sub = ''): string {
  return `/v2/training/jobs/${encodeURIComponent(jobId)}${sub}`;
}

export class Jobs {
  constructor(private readonly transport: Transport) {}

  /**
   * Submit a training job. Shape A (`{name, modelType, datasetId, config, ...}`) answers with the job;
   * shape B (`{name, framework, modelConfig, datasetConfig, ...}`) with the compact create response.
   * `config` is sent exactly as given. Never retried (a retry could create a second job).
   */
  create(params: CreateJobParams, options?: RequestOptions): Promise<Job>;
  create(params: CreateJobCompactParams, options?: RequestOptions): Promise<CompactCreateResponse>;
  create(
    params: CreateJobParams | CreateJobCompactParams,
    options?: RequestOptions,
  ): Promise<Job | CompactCreateResponse> {
    return this.transport.request({ method: 'POST', path: '/v2/training/jobs', body: params }, options);
  }

  /** One page of jobs (filters `status`, `modelType`; `limit`, `offset`, `sort`, `order`). */
  list(params: ListJobsParams = {}, options?: RequestOptions): Promise<JobList> {
    return this.transport.request({ method: 'GET', path: '/v2/training/jobs', query: { ...params } }, options);
  }

  /**
   * Every job matching `params`, page after page (`limit` is the page size, default 100):
   * `for await (const job of client.training.jobs.listAll({ status: 'running' }))`.
   */
  listAll(params: ListJobsParams = {}, options?: RequestOptions): AsyncGenerator<JobSummary, void, undefined> {
    return paginate(
      async (offset, limit) => {
        const page = await this.list({ ...params, offset, limit }, options);
        return { items: page.jobs, pagination: page.pagination };
      },
      params.offset ?? 0,
      params.limit ?? DEFAULT_PAGE_SIZE,
    );
  }

  /** The full job object. */
  get(jobId: string, options?: RequestOptions): Promise<Job> {
    return this.transport.request({ method: 'GET', path: jobPath(jobId) }, options);
  }

  /** Stop the job (`saveCheckpoint` defaults to true on the server); answers with the job (`stopping`). */
  stop(jobId: string, params: StopJobParams = {}, options?: RequestOptions): Promise<Job> {
    return this.transport.request({ method: 'POST', path: jobPath(jobId, '/stop'), body: params }, options);
  }

  /** Resume a stopped job from `checkpointId` (default: its latest good checkpoint). */
  resume(jobId: string, params: ResumeJobParams = {}, options?: RequestOptions): Promise<Job> {
    return this.transport.request({ method: 'POST', path: jobPath(jobId, '/resume'), body: params }, options);
  }

  /** Cancel the job if it runs, then delete it (checkpoints kept unless `purgeCheckpoints`). */
  async delete(jobId: string, params: DeleteJobParams = {}, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: jobPath(jobId), query: { ...params } }, options);
  }

  /** The logs of one worker (default 0) so far, also after the job ended; `tail` keeps the last lines. */
  logs(jobId: string, params: JobLogsParams = {}, options?: RequestOptions): Promise<string> {
    return this.transport.request({ method: 'GET', path: jobPath(jobId, '/logs'), query: { ...params } }, options);
  }

  /** A worker's logs as they are written: text chunks until the worker's container ends. */
  followLogs(
    jobId: string,
    params: JobLogsParams = {},
    options?: RequestOptions,
  ): AsyncGenerator<string, void, undefined> {
    return this.transport.stream(
      { method: 'GET', path: jobPath(jobId, '/logs'), query: { ...params, follow: true } },
      options,
    );
  }

  /**
   * One of a finished job's `artifacts` (`adapter`, `merged`, `model`, `best`, `last`), as its bytes arrive: a
   * file as it is, a folder as an uncompressed tar stream. Unknown name: `ArtifactNotFoundError` (its details list
   * the job's artifacts); a job not finished yet: `InvalidStateError`.
   */
  downloadArtifact(
    jobId: string,
    name: string,
    options?: RequestOptions,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    return this.transport.streamBytes(
      { method: 'GET', path: jobPath(jobId, `/artifacts/${encodeURIComponent(name)}`) },
      options,
    );
  }

  /** The job's checkpoints, oldest first. */
  async checkpoints(jobId: string, options?: RequestOptions): Promise<Checkpoint[]> {
    const body = await this.transport.request<{ checkpoints: Checkpoint[] }>(
      { method: 'GET', path: jobPath(jobId, '/checkpoints') },
      options,
    );
    return body.checkpoints;
  }

  /** The metrics history: one point per logged optimizer step, in step order, across every attempt. */
  async metrics(jobId: string, options?: RequestOptions): Promise<MetricPoint[]> {
    const body = await this.transport.request<{ points: MetricPoint[] }>(
      { method: 'GET', path: jobPath(jobId, '/metrics') },
      options,
    );
    return body.points;
  }

  /** The Kubernetes events of the job and its workers, oldest first. */
  async events(jobId: string, options?: RequestOptions): Promise<JobEvent[]> {
    const body = await this.transport.request<{ events: JobEvent[] }>(
      { method: 'GET', path: jobPath(jobId, '/events') },
      options,
    );
    return body.events;
  }

  /**
   * The job each time it changes (status, progress, metrics, checkpoints), read every `pollInterval` ms; the
   * iteration ends after yielding a finished job (`completed`, `failed`, `stopped`, `cancelled`):
   * `for await (const job of client.training.jobs.watch(id)) console.log(job.progress.percentage)`.
   */
  watch(jobId: string, options: WatchOptions = {}): AsyncGenerator<Job, void, undefined> {
    return this.changes(jobId, options.pollInterval ?? DEFAULT_POLL_INTERVAL, Infinity, options.signal);
  }

  /**
   * Resolve with the job once it is finished (whatever the outcome: check `status`), calling `onProgress` on
   * each change; rejects with `WaitTimeoutError` after `timeout` ms.
   */
  async wait(jobId: string, options: WaitOptions = {}): Promise<Job> {
    const deadline = options.timeout === undefined ? Infinity : Date.now() + options.timeout;
    const interval = options.pollInterval ?? DEFAULT_POLL_INTERVAL;
    let last: Job | undefined;
    for await (const job of this.changes(jobId, interval, deadline, options.signal)) {
      last = job;
      await options.onProgress?.(job);
    }
    if (last === undefined) throw new Error('unreachable: a watch yields at least once');
    return last;
  }

  private async *changes(
    jobId: string,
    pollInterval: number,
    deadline: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Job, void, undefined> {
    let seen: string | undefined;
    for (;;) {
      const job = await this.get(jobId, { signal });
      const current = fingerprint(job);
      if (current !== seen) {
        seen = current;
        yield job;
      }
      if (FINISHED_STATUSES.has(job.status)) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new WaitTimeoutError(`job ${jobId} is still ${job.status} after the wait's timeout`, job);
      }
      await sleep(Math.min(pollInterval, left), signal);
    }
  }
}
