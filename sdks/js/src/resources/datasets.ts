/** `client.datasets`: the `/v2/datasets` resource (registered training data). */

import { DEFAULT_PAGE_SIZE, paginate } from '../pagination.js';
import type { RequestOptions, Transport } from '../transport.js';
import type { CreateDatasetParams, Dataset, DatasetList, ListDatasetsParams } from '../types.js';

function datasetPath(datasetId: string): string {
  return `/v2/datasets/${encodeURIComponent(datasetId)}`;
}

export class Datasets {
  constructor(private readonly transport: Transport) {}

  /** Register a dataset: `name`, `format` (json, jsonl, csv, parquet, yolo), `source` (URL or volume path). */
  create(params: CreateDatasetParams, options?: RequestOptions): Promise<Dataset> {
    return this.transport.request({ method: 'POST', path: '/v2/datasets', body: params }, options);
  }

  /** One page of datasets, newest first. */
  list(params: ListDatasetsParams = {}, options?: RequestOptions): Promise<DatasetList> {
    return this.transport.request({ method: 'GET', path: '/v2/datasets', query: { ...params } }, options);
  }

  /** Every dataset, page after page (`limit` is the page size, default 100). */
  listAll(params: ListDatasetsParams = {}, options?: RequestOptions): AsyncGenerator<Dataset, void, undefined> {
    return paginate(
      async (offset, limit) => {
        const page = await this.list({ ...params, offset, limit }, options);
        return { items: page.datasets, pagination: page.pagination };
      },
      params.offset ?? 0,
      params.limit ?? DEFAULT_PAGE_SIZE,
    );
  }

  get(datasetId: string, options?: RequestOptions): Promise<Dataset> {
    return this.transport.request({ method: 'GET', path: datasetPath(datasetId) }, options);
  }

  /** Delete the registration (refused with `InvalidStateError` while an unfinished job uses it). */
  async delete(datasetId: string, options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: datasetPath(datasetId) }, options);
  }
}
