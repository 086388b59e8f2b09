/** Server-side paging for console lists: `?page=2&size=50` (size at most 100). */
export interface PageRequest {
  page: number;
  pageSize: number;
  /** Rows to skip: (page - 1) * pageSize. */
  offset: number;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

const positiveInt = (value: unknown, fallback: number) => {
  const n = typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 1 ? n : fallback;
};

export function parsePage(query: Record<string, unknown>, defaultSize = DEFAULT_PAGE_SIZE): PageRequest {
  const page = positiveInt(query.page, 1);
  const pageSize = Math.min(MAX_PAGE_SIZE, positiveInt(query.size, defaultSize));
  return { page, pageSize, offset: (page - 1) * pageSize };
}

/** What views/console/_pager.njk's `pager(p)` macro reads. `query` keeps the list's filters in the links. */
export interface Pager {
  page: number;
  pageSize: number;
  total: number;
  pages: number;
  prev: string | null;
  next: string | null;
}

export function pagerOf(req: PageRequest, total: number, path: string, query: Record<string, unknown> = {}): Pager {
  const pages = Math.max(1, Math.ceil(total / req.pageSize));
  const link = (page: number) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (typeof v === 'string' && v !== '' && k !== 'page') params.set(k, v);
    params.set('page', String(page));
    return `${path}?${params.toString()}`;
  };
  return { page: req.page, pageSize: req.pageSize, total, pages, prev: req.page > 1 ? link(req.page - 1) : null, next: req.page < pages ? link(req.page + 1) : null };
}
