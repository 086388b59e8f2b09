import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { projectRoot } from '../lib/paths';
import { type TokenBackend } from './backend';
import { Pkcs11Backend } from './backends/pkcs11';
import { SoftTokenBackend } from './backends/soft-token';
import { type KeyAgentConfig } from './config';
import { Dispatcher } from './dispatcher';
import { createKeyAgentServer, type KeyAgentServer } from './server';

/**
 * Builds a key agent from its config: backends, dispatcher, HTTP/WebSocket server. Nothing happens at import;
 * nothing listens until `listen()`. Tests build agents with port 0 and drive soft tokens in-process through
 * `softTokens` (unplug/plug); main.ts builds the one the user runs.
 */
export interface KeyAgent {
  readonly config: KeyAgentConfig;
  readonly dispatcher: Dispatcher;
  readonly backends: readonly TokenBackend[];
  /** The soft-token backend when enabled (its `unplug`/`plug` are the fault switch). */
  readonly softTokens?: SoftTokenBackend;
  readonly http: KeyAgentServer;
  /** Listens on 127.0.0.1 (config.port; 0 = a free port) and gives the base URL, e.g. http://127.0.0.1:17321. */
  listen(): Promise<{ port: number; url: string }>;
  /** Stops listening (in-flight calls finish first), then releases the backends (finalises PKCS#11). */
  close(): Promise<void>;
}

export interface CreateKeyAgentOptions {
  logger?: Logger;
  /** Backends to use instead of those the config names (tests of the dispatcher). */
  backends?: TokenBackend[];
}

export function createKeyAgent(config: KeyAgentConfig, options: CreateKeyAgentOptions = {}): KeyAgent {
  const logger = options.logger ?? pino({ level: config.logLevel, base: undefined });
  let softTokens: SoftTokenBackend | undefined;
  const backends: TokenBackend[] = [];
  if (options.backends) backends.push(...options.backends);
  else {
    for (const kind of config.backends) {
      if (kind === 'soft') backends.push((softTokens = new SoftTokenBackend(config.softTokenDir)));
      else {
        try {
          backends.push(Pkcs11Backend.open(config.pkcs11Module));
        } catch (err) {
          // Chosen by default because the file exists: a module that does not load must not stop the soft tokens.
          if (!config.pkcs11Optional) throw new Error(`cannot load the PKCS#11 module ${config.pkcs11Module}: ${(err as Error).message}`, { cause: err });
          logger.warn({ module: config.pkcs11Module, err: (err as Error).message }, 'PKCS#11 module did not load; continuing without it');
        }
      }
    }
  }
  softTokens ??= options.backends?.find((b): b is SoftTokenBackend => b instanceof SoftTokenBackend);

  const dispatcher = new Dispatcher({ backends, softTokens, dev: config.dev, logger, version: agentVersion() });
  const http = createKeyAgentServer({ dispatcher, allowedOrigins: config.allowedOrigins, logger, bodyLimitBytes: config.bodyLimitBytes });
  let closed: Promise<void> | undefined;

  return {
    config,
    dispatcher,
    backends,
    softTokens,
    http,
    async listen() {
      const address = await http.listen(config.port, config.host);
      return { port: address.port, url: `http://127.0.0.1:${address.port}` };
    },
    close() {
      closed ??= (async () => {
        await http.close();
        for (const backend of backends) {
          try {
            await backend.close();
          } catch (err) {
            logger.warn({ backend: backend.kind, err }, 'backend did not close cleanly');
          }
        }
      })();
      return closed;
    },
  };
}

function agentVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
