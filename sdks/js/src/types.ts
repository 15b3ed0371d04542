/**
 * Names for the API's shapes. Every one is an alias of a type generated from the facade's OpenAPI document
 * (`src/generated/openapi.ts`, `make sdk-js-types`), so the SDK's types follow the server's models.
 */

import type { components, paths } from './generated/openapi.js';

type Schemas = components['schemas'];

/** The full job object (get, create shape A, stop, resume). */
export type Job = Schemas['JobObject'];
/** An item of a job list (the short form). */
export type JobSummary = Schemas['JobSummary'];
export type JobList = Schemas['JobListResponse'];
/** A job's status as the API names it. */
export type JobStatus = Schemas['JobPhase'];
/** Shape A of a create request: the documented form. */
export type CreateJobParams = Schemas['CreateJobRequest'];
/** Shape B of a create request: the compact form. */
export type CreateJobCompactParams = Schemas['CreateJobRequestCompact'];
/** The answer to a shape-B create. */
export type CompactCreateResponse = Schemas['CompactCreateResponse'];
export type ListJobsParams = NonNullable<paths['/v2/training/jobs']['get']['parameters']['query']>;
export type StopJobParams = Schemas['StopJobRequest'];
export type ResumeJobParams = Schemas['ResumeJobRequest'];
export type DeleteJobParams = NonNullable<paths['/v2/training/jobs/{job_id}']['delete']['parameters']['query']>;
export type JobLogsParams = Omit<
  NonNullable<paths['/v2/training/jobs/{job_id}/logs']['get']['parameters']['query']>,
  'follow'
>;
export type Checkpoint = Schemas['CheckpointOut'];
export type MetricPoint = Schemas['MetricPointOut'];
export type JobEvent = Schemas['EventOut'];
export type Pagination = Schemas['Pagination'];

export type Dataset = Schemas['DatasetObject'];
export type DatasetList = Schemas['DatasetListResponse'];
export type CreateDatasetParams = Schemas['CreateDatasetRequest'];
export type ListDatasetsParams = NonNullable<paths['/v2/datasets']['get']['parameters']['query']>;

/** The error body every API error has. */
export type ErrorBody = Schemas['ErrorBody'];

export type { components, paths };
