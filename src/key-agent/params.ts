import { z } from 'zod';
import { KEY_ALGORITHMS } from '../lib/pki/types';
import { type AnyKeyAgentMethod, DEVICE_METHODS } from './protocol';

/**
 * Runtime schemas of every method's params (protocol.ts has the types). Extra fields are ignored rather than
 * refused, so a newer page can talk to an older agent. Sizes are bounded: the agent is reachable from any
 * page the user opens, and the token is slow, so nothing oversized should reach it.
 */
const mediaSerial = z.string().min(1).max(64);
const pin = z.string().min(1, '请输入证书密码').max(64);
const id = z.string().min(1).max(200);
const pem = z.string().min(1).max(64 * 1024).refine((s) => s.includes('-----BEGIN CERTIFICATE-----'), '需要 PEM 格式的证书');
const base64 = (max: number) => z.string().max(max).pipe(z.base64());
const field = (max: number) => z.string().trim().min(1).max(max).optional();
const empty = z.object({}).optional();

const subject = z
  .object({
    commonName: field(64),
    organization: field(128),
    organizationalUnit: field(128),
    creditCode: z.string().regex(/^[0-9A-HJ-NPQRTUWXY]{18}$/, '统一社会信用代码应为 18 位').optional(),
    locality: field(128),
    province: field(128),
    country: z.string().regex(/^[A-Z]{2}$/).optional(),
  })
  .refine((s) => Object.values(s).some((v) => v !== undefined), '证书主题不能为空');

const deviceMethod = z.enum(DEVICE_METHODS as [string, ...string[]]);

export const paramSchemas = {
  'agent.hello': empty,
  'device.list': empty,
  'cert.list': z.object({ mediaSerial }),
  'pin.verify': z.object({ mediaSerial, pin }),
  // 64 KiB of data at most (87,384 base64 characters): challenges are small, and a token signs slowly.
  sign: z.object({ mediaSerial, certificateId: id, pin, dataBase64: base64(87_384) }),
  'keygen.csr': z.object({
    mediaSerial, pin, algorithm: z.enum(KEY_ALGORITHMS as [string, ...string[]]), subject,
    keyId: z.string().regex(/^([0-9a-f]{2}){16,32}$/, '密钥标识应为 32–64 位十六进制').optional(),
  }),
  'cert.install': z.object({
    mediaSerial, pin, keyId: id, certificatePem: pem,
    encryptionPair: z.object({ certificatePem: pem, envelopedKeyBase64: base64(16 * 1024) }).optional(),
    replacesCertificateId: id.optional(),
  }),
  'cert.confirm': z.object({ mediaSerial, pin, certificateId: id }),
  'key.remove': z.object({ mediaSerial, pin, keyId: id }),
  'dev.unplug': z.object({
    mediaSerial,
    at: z
      .union([z.literal('now'), z.object({ before: deviceMethod }).strict(), z.object({ during: deviceMethod }).strict(), z.object({ after: deviceMethod }).strict()])
      .optional(),
  }),
  'dev.plug': z.object({ mediaSerial }),
} satisfies Record<AnyKeyAgentMethod, z.ZodType>;

export const isKnownMethod = (method: string): method is AnyKeyAgentMethod => Object.hasOwn(paramSchemas, method);
