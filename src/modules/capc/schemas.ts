import { z } from 'zod';

/**
 * Inputs of the /capc/ JSON APIs. Limits are generous for real certificates (an RSA-4096 certificate with a long
 * subject is under 3 KB of PEM) and small enough that nobody parses megabytes on our behalf.
 */
const PEM_CERT = /^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export const certificatePem = z.string().trim().max(12_000, '证书内容过长').regex(PEM_CERT, '证书格式不正确（需 PEM 格式）');

/** 介质编号 as printed on the U-KEY (PKCS#11 token serials are up to 16 characters; soft tokens use their own). */
export const mediaSerial = z.string().trim().min(4, '介质编号不正确').max(64, '介质编号不正确').regex(/^[A-Za-z0-9_-]+$/, '介质编号不正确');

export const bindCodeInput = z.object({
  certificatePem,
  mediaSerial,
  /** RSA-4096 signatures are 512 bytes (684 base64 characters); ECDSA/SM2 DER signatures are ~72 bytes. */
  signatureBase64: z.string().trim().min(16, '签名不正确').max(1024, '签名不正确').regex(BASE64, '签名不正确'),
}).strict();
export type BindCodeInput = z.infer<typeof bindCodeInput>;

/** The page asks which project and type each certificate on the key is, before the user picks one. */
export const describeInput = z.object({
  certificates: z.array(certificatePem).min(1).max(20),
}).strict();
export type DescribeInput = z.infer<typeof describeInput>;

export const emptyInput = z.object({}).strict();

/** The first problem, in the user's language, for the error message; the whole list goes to the detail. */
export function firstIssue(error: z.ZodError): { message: string; detail: string } {
  const issue = error.issues[0];
  const userFacing = issue && /[\u4e00-\u9fff]/.test(issue.message) ? issue.message : '提交的内容不完整或格式不正确';
  return { message: userFacing, detail: error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') };
}
