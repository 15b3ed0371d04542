/** `TensorOneClient`: the entry point, `client.training.jobs` and `client.datasets`. */

import { TensorOneError } from './errors.js';
import { Datasets } from './resources/datasets.js';
import { Jobs } from './resources/jobs.js';
import { Transport } from './transport.js';

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8000';
export const DEFAULT_TIMEOUT = 60_000;
export const DEFAULT_MAX_RETRIES = 2;

export interface ClientOptions {
  /** The API key (default: `TENSORONE_API_KEY`). */
  apiKey?: string;
  /** The API's URL, without `/v2` (default: `TENSORONE_BASE_URL`, else `http://127.0.0.1:8000`). */
  baseURL?: string;
  /** Milliseconds for one attempt of a request (default 60000). */
  timeout?: number;
  /** Retries of a retryable failure of an idempotent request (default 2). */
  maxRetries?: number;
  /** The fetch to use (default: the global one of Node >= 18). */
  fetch?: typeof fetch;
}

function environment(name: string): string | undefined {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value === '' ? undefined : value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new TensorOneError(`${name} must be a finite number >= 0`);
  }
  return value;
}

export class TensorOneClient {
  readonly baseURL: string;
  readonly training: { readonly jobs: Jobs };
  readonly datasets: Datasets;

  constructor(options: ClientOptions = {}) {
    const apiKey = options.apiKey ?? environment('TENSORONE_API_KEY');
    if (!apiKey) {
      throw new TensorOneError('No API key: pass { apiKey } or set TENSORONE_API_KEY');
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new TensorOneError('No fetch: use Node >= 18 or pass { fetch }');
    }
    const transport = new Transport({
      apiKey,
      baseURL: options.baseURL ?? environment('TENSORONE_BASE_URL') ?? DEFAULT_BASE_URL,
      timeout: nonNegative('timeout', options.timeout ?? DEFAULT_TIMEOUT),
      maxRetries: Math.floor(nonNegative('maxRetries', options.maxRetries ?? DEFAULT_MAX_RETRIES)),
      fetch: fetchImpl,
    });
    this.baseURL = transport.baseURL;
    this.training = Object.freeze({ jobs: new Jobs(transport) });
    this.datasets = new Datasets(transport);
  }
}
