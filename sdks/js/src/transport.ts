/**
 * One HTTP call to the API with what every call needs: the key, a per-attempt timeout (AbortController),
 * typed errors, and retries with exponential backoff.
 *
 * Only idempotent calls (GET, DELETE) are retried — on 429 (after `Retry-After`), on 5xx, on connection errors
 * and timeouts. A POST (create, stop, resume, register) is sent once: a retry after a lost answer could create
 * a second job.
 */

import {
  APIConnectionError,
  APITimeoutError,
  errorFromResponse,
  TensorOneAPIError,
} from './errors.js';
import { sleep } from './sleep.js';

/** Per-call overrides of the client's settings. */
export interface RequestOptions {
  /** Milliseconds for one attempt (connect, send, read the whole answer). */
  timeout?: number;
  /** Retries of a retryable failure of an idempotent call. */
  maxRetries?: number;
  /** Aborts the call (and any wait between retries); the call rejects with the signal's reason. */
  signal?: AbortSignal;
}

export type QueryValue = string | number | boolean | null | undefined;

export interface Call {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
}

export interface TransportConfig {
  apiKey: string;
  baseURL: string;
  timeout: number;
  maxRetries: number;
  fetch: typeof fetch;
}

const IDEMPOTENT = new Set(['GET', 'DELETE']);
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 8_000;
/** The longest `Retry-After` honoured; a server asking for more gets this (the caller may retry later). */
const RETRY_AFTER_MAX_MS = 60_000;
const USER_AGENT = 'tensorone-js';

/** A timeout's own abort reason, to tell it apart from the caller's signal. */
class TimeoutReason extends Error {}

/** Milliseconds a `Retry-After` header (seconds or an HTTP date) asks for, or `undefined`. */
export function parseRetryAfter(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function backoff(attempt: number): number {
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return delay * (1 - Math.random() * 0.25);
}

function retryDelay(attempt: number, error: TensorOneAPIError, retryAfter: string | null): number {
  const fromHeader = parseRetryAfter(retryAfter);
  const fromBody = typeof error.details.retryAfter === 'number' ? error.details.retryAfter * 1000 : undefined;
  const asked = fromHeader ?? fromBody;
  return asked === undefined ? backoff(attempt) : Math.min(asked, RETRY_AFTER_MAX_MS);
}

function isRetryableStatus(status: number, error: TensorOneAPIError): boolean {
  // A quota does not clear by waiting a second: retrying only delays the error.
  return (status === 429 && error.error !== 'QUOTA_EXCEEDED') || status >= 500;
}

async function readBody(response: Response): Promise<unknown> {
  if (response.status === 204) return undefined;
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) return text;
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return text;
  }
}

interface Answer {
  response: Response;
  body: unknown;
}

export class Transport {
  readonly baseURL: string;

  constructor(private readonly config: TransportConfig) {
    this.baseURL = config.baseURL.replace(/\/+$/, '');
  }

  url(path: string, query?: Record<string, QueryValue>): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) params.set(key, String(value));
    }
    const search = params.toString();
    return `${this.baseURL}${path}${search ? `?${search}` : ''}`;
  }

  /** Send `call`, retrying what may be retried; resolve with the parsed answer (JSON, text, or undefined). */
  async request<T>(call: Call, options: RequestOptions = {}): Promise<T> {
    const maxRetries = options.maxRetries ?? this.config.maxRetries;
    const idempotent = IDEMPOTENT.has(call.method);
    for (let attempt = 0; ; attempt++) {
      const retriesLeft = idempotent && attempt < maxRetries;
      let answer: Answer;
      try {
        answer = await this.attempt(call, options, true);
      } catch (error) {
        if (error instanceof APIConnectionError && retriesLeft) {
          await sleep(backoff(attempt), options.signal);
          continue;
        }
        throw error;
      }
      const { response, body } = answer;
      if (response.ok) return body as T;
      const error = errorFromResponse(response.status, body);
      if (retriesLeft && isRetryableStatus(response.status, error)) {
        await sleep(retryDelay(attempt, error, response.headers.get('retry-after')), options.signal);
        continue;
      }
      throw error;
    }
  }

  /**
   * Send a GET whose answer is a text stream and yield its chunks as they arrive (`logs?follow=true`). The
   * timeout covers the answer's headers only: a followed log may stay open as long as the job runs.
   */
  async *stream(call: Call, options: RequestOptions = {}): AsyncGenerator<string, void, undefined> {
    const decoder = new TextDecoder();
    for await (const bytes of this.streamBytes(call, options)) {
      const text = decoder.decode(bytes, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  }

  /** Send a GET and yield its answer's bytes as they arrive (artifact downloads); the timeout as for `stream`. */
  async *streamBytes(call: Call, options: RequestOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const { response } = await this.attempt(call, options, false);
    if (!response.ok) {
      throw errorFromResponse(response.status, await readBody(response));
    }
    const reader = response.body?.getReader();
    if (reader === undefined) return;
    const onAbort = (): void => void reader.cancel(options.signal?.reason).catch(() => undefined);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.byteLength > 0) yield value;
      }
      if (options.signal?.aborted) throw options.signal.reason;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      await reader.cancel().catch(() => undefined);
    }
  }

  /** One attempt; with `readWhole` the timeout covers reading the answer too. */
  private async attempt(call: Call, options: RequestOptions, readWhole: boolean): Promise<Answer> {
    const timeout = options.timeout ?? this.config.timeout;
    const controller = new AbortController();
    const signal = options.signal;
    if (signal?.aborted) throw signal.reason;
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new TimeoutReason()), timeout);
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.config.apiKey}`,
      Accept: 'application/json, text/plain',
      'User-Agent': USER_AGENT,
    };
    if (call.body !== undefined) headers['Content-Type'] = 'application/json';
    try {
      const response = await this.config.fetch(this.url(call.path, call.query), {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: controller.signal,
      });
      const body = readWhole ? await readBody(response) : undefined;
      return { response, body };
    } catch (error) {
      if (controller.signal.reason instanceof TimeoutReason) {
        throw new APITimeoutError(`${call.method} ${call.path}: no answer within ${timeout} ms`, { cause: error });
      }
      if (signal?.aborted) throw signal.reason;
      // undici reports "fetch failed" and puts what happened (ECONNREFUSED, ...) in `cause`.
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new APIConnectionError(`${call.method} ${call.path}: ${reason}`, { cause: error });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
