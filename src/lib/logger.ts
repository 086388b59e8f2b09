import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs, one line per request. Redaction is the last line of defence; the first is not to log secrets:
 * request logs carry the path only (never the query: /wechat signatures, OAuth codes).
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ['*.access_token', '*.accessToken', '*.secret', '*.appSecret', '*.pin', '*.idNumber', '*.code', '*.token', 'req.headers.cookie', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** Only the tail of an openid goes to the logs: enough to correlate, not enough to be a user list. */
export const openidTail = (openid: string) => `…${openid.slice(-6)}`;
