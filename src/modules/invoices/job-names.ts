/** The invoice jobs (registered in jobs.ts); names here so the service can queue them without importing the handlers. */
export const INVOICE_SUBMIT_JOB = 'invoices.submit';
export const INVOICE_POLL_JOB = 'invoices.poll';
export const INVOICE_MAIL_JOB = 'invoices.mail';
export const INVOICE_ISSUED_NOTICE_JOB = 'invoices.issued-notice';
export const INVOICE_RED_FOLLOW_JOB = 'invoices.red-follow';
export const INVOICE_SWEEP_JOB = 'invoices.sweep';

/** A submission's job id: one per attempt key, so a second enqueue while it waits or runs is dropped. */
export const submitJobId = (attemptKey: string) => `${INVOICE_SUBMIT_JOB}:${attemptKey}`;
