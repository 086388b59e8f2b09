import dotenv from 'dotenv';
import { createLogger } from '../lib/logger';
import { KeyAgentConfigError, loadKeyAgentConfig } from './config';
import { createKeyAgent } from './create-agent';

/**
 * `npm run key-agent`: the local key agent the /capc/ page talks to. Reads its settings, listens on
 * 127.0.0.1, says where and which U-KEYs it sees. SIGTERM/SIGINT: in-flight calls finish, PKCS#11 is
 * finalised, exit 0 (a second signal exits at once).
 */
async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  let config;
  try {
    config = loadKeyAgentConfig(process.env);
  } catch (err) {
    if (err instanceof KeyAgentConfigError) {
      console.error(`Cannot start the key agent: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const agent = createKeyAgent(config, { logger });

  let url: string;
  try {
    ({ url } = await agent.listen());
  } catch (err) {
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    console.error(inUse ? `Cannot start the key agent: port ${config.port} is in use (another key agent running?)` : `Cannot start the key agent: ${(err as Error).message}`);
    await agent.close();
    process.exit(1);
  }

  const { devices } = await agent.dispatcher.call('device.list');
  const lines = [
    '',
    `数安CA管家 密钥助手 listening on ${url}  (POST ${url}/rpc, WebSocket ${url.replace('http', 'ws')}/ws)`,
    `  backends:        ${agent.backends.map((b) => (b.kind === 'pkcs11' ? `pkcs11 (${config.pkcs11Module})` : `soft (${config.softTokenDir})`)).join(', ') || 'none'}`,
    `  allowed origins: ${config.allowedOrigins.join(', ')}`,
    `  devices:         ${devices.length === 0 ? 'none yet (insert a U-KEY, or create soft tokens: npm run demo:seed)' : devices.length}`,
    ...devices.map((d) => `    - ${d.mediaSerial}  ${d.label}  [${d.backend}; ${d.algorithms.join(', ') || 'no supported algorithm'}]${d.pinLocked ? '  PIN LOCKED' : ''}`),
    ...(config.dev ? ['  dev mode: dev.unplug / dev.plug are enabled (fault switch for soft tokens)'] : []),
    '',
  ];
  console.log(lines.join('\n'));

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'key agent stopping');
    agent.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'key agent did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// A rejection anywhere in start-up (a backend that cannot load its PKCS#11 module, a device list that throws)
// must say what failed and exit non-zero, as the server's main does, not leave an unhandled rejection behind.
main().catch((err) => {
  console.error('Cannot start the key agent:', err);
  process.exit(1);
});
