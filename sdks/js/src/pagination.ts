/** Walking every page of an offset-paginated list (`{items..., pagination: {total, limit, offset, hasMore}}`). */

import type { Pagination } from './types.js';

/** Page size of `listAll` when the caller gives none: the API's largest. */
export const DEFAULT_PAGE_SIZE = 100;

export interface Page<T> {
  items: T[];
  pagination: Pagination;
}

/**
 * Yield every item from `offset` on, one page of `limit` at a time, until the server says there is no more.
 * Items created while the walk runs may shift pages (offset pagination); each page is read once.
 */
export async function* paginate<T>(
  fetchPage: (offset: number, limit: number) => Promise<Page<T>>,
  offset = 0,
  limit = DEFAULT_PAGE_SIZE,
): AsyncGenerator<T, void, undefined> {
  for (;;) {
    const page = await fetchPage(offset, limit);
    yield* page.items;
    if (!page.pagination.hasMore || page.items.length === 0) return;
    offset += page.items.length;
  }
}
