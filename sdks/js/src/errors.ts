/**
 * Errors of the SDK: one class per error code of the v2 API (shared/API.md), all extending
 * `TensorOneAPIError`, plus the errors that happen before an answer arrives (connection, timeout).
 *
 * `catch (e) { if (e instanceof JobNotFoundError) ... }` is the intended use; `e.error` holds the code,
 * `e.details` the code's details (`field`/`reason`, `jobId`, `retryAfter`, ...), `e.status` the HTTP status.
 */

/** Details of an API error, as the server sent them (keys depend on the error code). */
export type ErrorDetails = Record<string, unknown>;

/** Every error this SDK throws. */
export class TensorOneError extends Error {
  override name = 'TensorOneError';
}

/** The API answered with an error body `{error, message, details}` (or an HTTP error without one). */
export class TensorOneAPIError extends TensorOneError {
  override name = 'TensorOneAPIError';
  /** The error code, e.g. `JOB_NOT_FOUND` (`HTTP_<status>` when the body carried none). */
  readonly error: string;
  /** The code's details: `{}` when the server sent none. */
  readonly details: ErrorDetails;
  /** The HTTP status. */
  readonly status: number;

  constructor(error: string, message: string, details: ErrorDetails, status: number) {
    super(message);
    this.error = error;
    this.details = details;
    this.status = status;
  }
}

/** `CONFIGURATION_ERROR` (400): an invalid, unknown or out-of-range field; `field` names it as it was sent. */
export class ConfigurationError extends TensorOneAPIError {
  override name = 'ConfigurationError';
  /** The dotted path of the (first) invalid field, e.g. `config.training.learning_rate`. */
  get field(): string | undefined {
    return typeof this.details.field === 'string' ? this.details.field : undefined;
  }
  /** Why that field is invalid. */
  get reason(): string | undefined {
    return typeof this.details.reason === 'string' ? this.details.reason : undefined;
  }
}

/** `DATASET_NOT_FOUND` (404): `datasetId` names no dataset of this account. */
export class DatasetNotFoundError extends TensorOneAPIError {
  override name = 'DatasetNotFoundError';
}

/** `INSUFFICIENT_RESOURCES` (409): the cluster offers no such GPU type or count. */
export class InsufficientResourcesError extends TensorOneAPIError {
  override name = 'InsufficientResourcesError';
}

/** `UNAUTHORIZED` (401): no or unknown API key. */
export class UnauthorizedError extends TensorOneAPIError {
  override name = 'UnauthorizedError';
}

/** `JOB_NOT_FOUND` (404): unknown job id (or another account's). */
export class JobNotFoundError extends TensorOneAPIError {
  override name = 'JobNotFoundError';
}

/** `INVALID_STATE` (409): e.g. stopping a completed job; `details.status` is the job's status. */
export class InvalidStateError extends TensorOneAPIError {
  override name = 'InvalidStateError';
}

/** `CHECKPOINT_NOT_FOUND` (404): resume names a checkpoint the job does not have. */
export class CheckpointNotFoundError extends TensorOneAPIError {
  override name = 'CheckpointNotFoundError';
}

/** `ARTIFACT_NOT_FOUND` (404): the job lists no artifact of that name; `availableArtifacts` says which it has. */
export class ArtifactNotFoundError extends TensorOneAPIError {
  override name = 'ArtifactNotFoundError';
}

/** `RATE_LIMITED` (429): too many requests for this key (after the SDK's own retries). */
export class RateLimitedError extends TensorOneAPIError {
  override name = 'RateLimitedError';
  /** Seconds the server asked to wait. */
  get retryAfter(): number | undefined {
    return typeof this.details.retryAfter === 'number' ? this.details.retryAfter : undefined;
  }
}

/** `QUOTA_EXCEEDED` (429): the account's limit of unfinished jobs or GPUs is reached. */
export class QuotaExceededError extends TensorOneAPIError {
  override name = 'QuotaExceededError';
}

/** `NOT_FOUND` (404): no such route or object (other than a job, dataset or checkpoint). */
export class NotFoundError extends TensorOneAPIError {
  override name = 'NotFoundError';
}

/** `INTERNAL_ERROR` (500) or any 5xx without an error body (after the SDK's retries). */
export class InternalServerError extends TensorOneAPIError {
  override name = 'InternalServerError';
}

/** The request could not be sent or its answer not read (refused connection, reset, DNS...). */
export class APIConnectionError extends TensorOneError {
  override name = 'APIConnectionError';
}

/** No complete answer within the request's `timeout` (milliseconds). */
export class APITimeoutError extends APIConnectionError {
  override name = 'APITimeoutError';
}

/** `jobs.wait` gave up: the job had not finished within its `timeout`; `job` is the last one seen. */
export class WaitTimeoutError extends TensorOneError {
  override name = 'WaitTimeoutError';
  readonly job: unknown;

  constructor(message: string, job: unknown) {
    super(message);
    this.job = job;
  }
}

type APIErrorClass = new (error: string, message: string, details: ErrorDetails, status: number) => TensorOneAPIError;

/** The class of each error code of the API. */
export const ERROR_CLASSES: Readonly<Record<string, APIErrorClass>> = Object.freeze({
  CONFIGURATION_ERROR: ConfigurationError,
  DATASET_NOT_FOUND: DatasetNotFoundError,
  INSUFFICIENT_RESOURCES: InsufficientResourcesError,
  UNAUTHORIZED: UnauthorizedError,
  JOB_NOT_FOUND: JobNotFoundError,
  INVALID_STATE: InvalidStateError,
  CHECKPOINT_NOT_FOUND: CheckpointNotFoundError,
  ARTIFACT_NOT_FOUND: ArtifactNotFoundError,
  RATE_LIMITED: RateLimitedError,
  QUOTA_EXCEEDED: QuotaExceededError,
  NOT_FOUND: NotFoundError,
  INTERNAL_ERROR: InternalServerError,
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The typed error for an HTTP error answer: its parsed JSON body (or `undefined`) and status. */
export function errorFromResponse(status: number, body: unknown): TensorOneAPIError {
  if (isRecord(body) && typeof body.error === 'string') {
    const message = typeof body.message === 'string' ? body.message : body.error;
    const details = isRecord(body.details) ? body.details : {};
    const Class = ERROR_CLASSES[body.error] ?? TensorOneAPIError;
    return new Class(body.error, message, details, status);
  }
  const Class = status >= 500 ? InternalServerError : TensorOneAPIError;
  return new Class(`HTTP_${status}`, `HTTP ${status} without an API error body`, {}, status);
}
