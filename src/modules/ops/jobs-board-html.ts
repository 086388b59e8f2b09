/** Where the console mounts the read-only BullMQ board (bull-board). */
export const BOARD_PATH = '/jobs/board';

/**
 * What the board's page needs beyond the console's policy: `base-uri 'self'` (its code reads `<base href>` for its
 * API address) and the one `<style>` React renders inside its Redis logo (bull-board 9.10.1; the e2e test fails on any
 * violation, so an upgrade that changes it is noticed).
 */
export const BOARD_PAGE_POLICY = { base: ["'self'"], styles: ["'sha256-r2N1TB/gHbBtBZFKg7ejmq1acVSREzucTAEw6ga4hoU='"] } as const;

/** Job payloads carry openids, order numbers, e-mail keys: the board shows their shape, not their values. */
export function redactJobData(data: unknown): unknown {
  if (typeof data === 'string') return data.length <= 6 ? data : `${data.slice(0, 2)}…${data.slice(-4)}`;
  if (Array.isArray(data)) return data.map(redactJobData);
  if (data && typeof data === 'object') return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, redactJobData(v)]));
  return data;
}

/**
 * The board's page under the console's CSP. Its scripts and stylesheet are its own files ('self'); their addresses are
 * made absolute, so they load whatever `<base href>` does (pages elsewhere in the console have `base-uri 'none'`). The
 * Google Fonts stylesheet is dropped (no third-party origin; the system font serves) and the loading placeholder's
 * inline <style> gets the request's nonce. Its `__UI_CONFIG__` is a JSON data block, not a script.
 */
export function boardHtmlForCsp(html: string, nonce: string | undefined): string {
  return html
    .replace(/<link[^>]+fonts\.googleapis\.com[^>]*>/g, '')
    .replace(/(\s(?:src|href))="static\//g, `$1="${BOARD_PATH}/static/`)
    .replace(/<style>/g, nonce ? `<style nonce="${nonce}">` : '<style>');
}
