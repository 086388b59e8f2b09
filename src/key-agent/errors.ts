import { KeyAgentErrorCode, type KeyAgentErrorName, type PinIncorrectData } from './protocol';

/**
 * The one error of the key agent: thrown by backends, turned into a JSON-RPC error object by the dispatcher,
 * and rebuilt from one by the client. `code` is the protocol's number, `name` its symbolic name; `message` is
 * Chinese and safe to show to the user; `detail` is for logs only and never leaves the agent.
 */
export class KeyAgentError extends Error {
  readonly code: number;
  readonly codeName: KeyAgentErrorName | 'UNKNOWN';

  constructor(
    codeName: KeyAgentErrorName,
    message: string,
    readonly data?: unknown,
    readonly detail?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KeyAgentError';
    this.code = KeyAgentErrorCode[codeName];
    this.codeName = codeName;
  }

  /** Rebuilds the error a client received; an unknown code keeps its number. */
  static fromWire(error: { code: number; message: string; data?: unknown }): KeyAgentError {
    const name = nameOfCode(error.code);
    const e = new KeyAgentError(name ?? 'INTERNAL', error.message, error.data);
    if (!name) Object.assign(e, { code: error.code, codeName: 'UNKNOWN' });
    return e;
  }

  toWire(): { code: number; message: string; data?: unknown } {
    return this.data === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, data: this.data };
  }
}

export function nameOfCode(code: number): KeyAgentErrorName | undefined {
  return (Object.keys(KeyAgentErrorCode) as KeyAgentErrorName[]).find((k) => KeyAgentErrorCode[k] === code);
}

export const isKeyAgentError = (e: unknown, name?: KeyAgentErrorName): e is KeyAgentError =>
  e instanceof KeyAgentError && (name === undefined || e.codeName === name);

// The errors backends raise, with their user-facing wording in one place.
export const agentErrors = {
  pinIncorrect: (triesLeft: number | null, detail?: string) =>
    new KeyAgentError(
      'PIN_INCORRECT',
      triesLeft === null ? '证书密码错误' : `证书密码错误，还可尝试 ${triesLeft} 次`,
      { triesLeft } satisfies PinIncorrectData,
      detail,
    ),
  pinLocked: (detail?: string) => new KeyAgentError('PIN_LOCKED', '证书密码（PIN 码）已锁定，请联系证书服务机构解锁', undefined, detail),
  deviceRemoved: (mediaSerial: string, detail?: string) =>
    new KeyAgentError('DEVICE_REMOVED', 'U-KEY 已拔出，请重新插入后重试', { mediaSerial }, detail),
  deviceNotFound: (mediaSerial: string) => new KeyAgentError('DEVICE_NOT_FOUND', '未找到该 U-KEY，请确认已插入', { mediaSerial }),
  certNotFound: (certificateId: string) => new KeyAgentError('CERT_NOT_FOUND', 'U-KEY 中没有该证书', { certificateId }),
  keyNotFound: (keyId: string) => new KeyAgentError('KEY_NOT_FOUND', 'U-KEY 中没有该密钥', { keyId }),
  keyInUse: (keyId: string, detail?: string) => new KeyAgentError('KEY_IN_USE', '该密钥已有证书在使用，不能删除', { keyId }, detail),
  unsupportedAlgorithm: (algorithm: string, detail?: string) =>
    new KeyAgentError('UNSUPPORTED_ALGORITHM', `该 U-KEY 不支持 ${algorithm} 算法`, { algorithm }, detail),
  invalidParams: (message: string, detail?: string) => new KeyAgentError('INVALID_PARAMS', message, undefined, detail),
  internal: (detail: string, cause?: unknown) => new KeyAgentError('INTERNAL', '密钥助手内部错误', undefined, detail, { cause }),
};
