import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance (not prom-client's global) so tests can build many apps in one process. */
export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  webhookOutcomes: Counter<'outcome'>;
  tokenRefreshes: Counter<'result'>;
  wechatApiCalls: Counter<'api' | 'result'>;
  jobs: Counter<'name' | 'result'>;
  /** The expired-order sweep, per order: closed, credited, or failed (logged; the next sweep tries again). */
  orderSweep: Counter<'result'>;
  /** 到期提醒 per recipient: threshold (30/7/1), channel (template, subscribe, sms, none), result (sent, unreachable, skipped, failed). */
  reminders: Counter<'threshold' | 'channel' | 'result'>;
  /** TEMPLATESENDJOBFINISH reports by Status (success, failed:user block, failed: system failed). */
  templateReports: Counter<'status'>;
}

export function createMetrics(opts: { collectDefaults?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.collectDefaults) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route template',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    webhookOutcomes: new Counter({
      name: 'wechat_webhook_requests_total',
      help: 'WeChat webhook requests by outcome (handled, duplicate, replayed, forged, stale, downgraded, …)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    tokenRefreshes: new Counter({
      name: 'wechat_access_token_refreshes_total',
      help: 'access_token fetches by result (ok, error, force_refresh, alert)',
      labelNames: ['result'],
      registers: [registry],
    }),
    wechatApiCalls: new Counter({
      name: 'wechat_api_calls_total',
      help: 'Calls to the WeChat API by endpoint and result (ok or errcode)',
      labelNames: ['api', 'result'],
      registers: [registry],
    }),
    jobs: new Counter({ name: 'jobs_total', help: 'Background jobs by name and result', labelNames: ['name', 'result'], registers: [registry] }),
    reminders: new Counter({ name: 'expiry_reminders_total', help: 'Expiry reminders by threshold, channel and result', labelNames: ['threshold', 'channel', 'result'], registers: [registry] }),
    templateReports: new Counter({ name: 'wechat_template_reports_total', help: 'TEMPLATESENDJOBFINISH reports by status', labelNames: ['status'], registers: [registry] }),
    orderSweep: new Counter({ name: 'order_sweep_orders_total', help: 'Expired orders the sweep settled, by result (closed, credited, failed)', labelNames: ['result'], registers: [registry] }),
  };
}
