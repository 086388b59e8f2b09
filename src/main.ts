import { createServer } from 'node:http';
import dotenv from 'dotenv';
import { createApp } from './app';
import { createConsoleApp } from './modules/console/app';
import { closeDeps, openDeps } from './composition';
import { certificateServiceFor } from './modules/certificates/service';
import { recordSandboxServer } from './config/sandbox-server';
import { scheduleOrderSweep } from './modules/payments/jobs';
import { scheduleInvoiceSweep } from './modules/invoices/jobs';
import { scheduleRestoreOwedPass } from './modules/legacy-bindings/owed';
import { scheduleHandlerPurge } from './modules/handler-authorisation/jobs';
import { scheduleBillChecks } from './modules/wechatpay-bills/jobs';
import { scheduleRenewalJobs } from './modules/renewals/jobs';
import { loadConfig } from './config/load';
import { SettingsError } from './config/settings';
import { createLogger } from './lib/logger';

/**
 * The process entry point and the only place that reads the environment, opens connections and listens.
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish (10 s at most), close pools, exit 0.
 */
async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(`Cannot start: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }

  const logger = createLogger(config.logLevel);
  let deps;
  try {
    deps = await openDeps(config, { logger, collectDefaultMetrics: true });
  } catch (err) {
    logger.fatal({ err }, `Cannot start: ${(err as Error).message}`);
    process.exit(1);
  }

  const app = createApp(deps);
  try {
    // The trusted roots (CA_TRUSTED_ROOTS_FILE, the built-in CA) are read now, so a bad bundle stops the start
    // instead of failing the first holder who presents a certificate.
    await certificateServiceFor(deps).ready();
  } catch (err) {
    logger.fatal({ err }, `Cannot start: ${(err as Error).message}`);
    await closeDeps(deps);
    process.exit(1);
  }
  await deps.jobs.start();
  const stopSweep = scheduleOrderSweep(deps);
  const stopInvoiceSweep = scheduleInvoiceSweep(deps);
  const stopPurge = scheduleHandlerPurge(deps);
  const stopBillChecks = scheduleBillChecks(deps);
  const stopRenewalJobs = scheduleRenewalJobs(deps);
  const stopRestoreOwed = scheduleRestoreOwedPass(deps);
  const server = createServer(app.callback());
  // Longer than a typical load balancer's idle timeout, so it never reuses a socket we just closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((ok, fail) => server.once('error', fail).listen(config.port, config.host, ok));
  logger.info({ port: config.port, database: config.database.kind, cache: config.cache.kind, wechat: config.wechat.mode, env: config.env }, 'listening');
  // The operator console: its own listener (ADMIN_PORT; outside production PORT+1 by default), never the public one.
  let consoleServer = config.console.port === undefined ? null : createServer(createConsoleApp(deps).callback());
  if (consoleServer) {
    const listening = consoleServer;
    listening.keepAliveTimeout = 65_000;
    listening.headersTimeout = 66_000;
    listening.requestTimeout = 30_000;
    try {
      await new Promise<void>((ok, fail) => listening.once('error', fail).listen(config.console.port, config.console.host, ok));
      logger.info({ port: config.console.port, host: config.console.host }, 'console listening');
    } catch (err) {
      // An ADMIN_PORT someone set must work; the development default (PORT+1) may simply be taken.
      if (!config.console.portDefaulted || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      logger.warn({ port: config.console.port }, 'console not started: its default port (PORT+1) is in use; set ADMIN_PORT');
      consoleServer = null;
    }
  } else {
    logger.info('console not started: ADMIN_PORT is not set');
  }
  // WECHATPAY_PLATFORM_CERTS=download: first download now (the sandbox WeChat Pay answers only once we listen), then every 12 h.
  const stopCertRefresh = deps.wechatpay.certificates.start();
  if (config.sandbox) {
    recordSandboxServer(config.dataDir, config.port);
    const consoleLine = consoleServer ? `\n  Console:          ${config.console.baseUrl}/ (first operator: npm run admin:create)` : '';
    console.log(`\n数安CA管家 (sandbox mode)\n  H5 home:          ${config.publicBaseUrl}/h5/\n  WeChat simulator: ${config.publicBaseUrl}/dev/wechat${consoleLine}\n`);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    stopSweep();
    stopInvoiceSweep();
    stopCertRefresh();
    stopPurge();
    stopBillChecks();
    stopRenewalJobs();
    stopRestoreOwed();
    const servers = consoleServer ? [server, consoleServer] : [server];
    const force = setTimeout(() => servers.forEach((s) => s.closeAllConnections()), 10_000);
    // Keep-alive sockets become idle once their last response is sent: close them as they do.
    const sweep = setInterval(() => servers.forEach((s) => s.closeIdleConnections()), 200);
    // Both listeners stop accepting at once; the pools close only when the last in-flight request has finished.
    void Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done())))).then(async () => {
      clearTimeout(force);
      clearInterval(sweep);
      await closeDeps(deps);
      logger.info('stopped');
      process.exit(0);
    });
    servers.forEach((s) => s.closeIdleConnections());
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  console.error('Cannot start:', err);
  process.exit(1);
});
