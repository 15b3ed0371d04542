/** `@tensorone/sdk`: the TensorOne Training API v2 for JavaScript and TypeScript. */

export { TensorOneClient, DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT } from './client.js';
export type { ClientOptions } from './client.js';
export * from './errors.js';
export { Jobs, FINISHED_STATUSES, DEFAULT_POLL_INTERVAL } from './resources/jobs.js';
export type { WaitOptions, WatchOptions } from './resources/jobs.js';
export { Datasets } from './resources/datasets.js';
export type { RequestOptions } from './transport.js';
export type * from './types.js';
