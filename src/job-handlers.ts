import { type Deps } from './deps';
import { registerHandlerJobs } from './modules/handler-authorisation/jobs';
import { registerLegacyJobs } from './modules/legacy-bindings/jobs';
import { registerPaymentJobs } from './modules/payments/jobs';
import { registerBillJobs } from './modules/wechatpay-bills/jobs';
import { registerInvoiceJobs } from './modules/invoices/jobs';
import { registerRenewalJobs } from './modules/renewals/jobs';
import { registerReminderJobs } from './modules/reminders/jobs';

/**
 * Every background job's handler. createApp registers them for the server's workers; a command on the embedded
 * default registers them too, since its in-process queue is the only one that will ever see what it enqueues.
 */
export function registerJobHandlers(deps: Deps): void {
  registerLegacyJobs(deps);
  registerPaymentJobs(deps);
  registerHandlerJobs(deps);
  registerBillJobs(deps);
  registerInvoiceJobs(deps);
  registerRenewalJobs(deps);
  registerReminderJobs(deps);
}
