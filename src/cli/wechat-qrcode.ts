import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import QRCode from 'qrcode';
import { MAX_QR_EXPIRE_SECONDS } from '../providers/wechat-api/real';
import { CliError, type CliIo, runCli, withWechatApi } from './bootstrap';

const USAGE = 'usage: npm run wechat:qrcode -- <scene> [--permanent] [--expire <seconds>] [--out file.png]';

/**
 * `npm run wechat:qrcode -- <scene>`: a parametric follow QR code. Scanning it and following sends
 * `qrscene_<scene>` with the subscribe event, which records where the user came from (a poster, a counter).
 * Temporary codes (30 days at most) by default; permanent ones are limited to 100 000 per account.
 */
export async function wechatQrcode(io: CliIo, argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { permanent: { type: 'boolean' }, expire: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) return io.out(USAGE);
  if (positionals.length !== 1) throw new CliError(USAGE);
  const scene = positionals[0];
  const expireSeconds = values.expire === undefined ? undefined : Number(values.expire);
  if (expireSeconds !== undefined && values.permanent) throw new CliError('--expire makes no sense with --permanent');
  if (expireSeconds !== undefined && !(Number.isInteger(expireSeconds) && expireSeconds >= 60 && expireSeconds <= MAX_QR_EXPIRE_SECONDS)) {
    throw new CliError(`--expire must be whole seconds from 60 to ${MAX_QR_EXPIRE_SECONDS} (30 days)`);
  }

  await withWechatApi(io, async ({ api }) => {
    const qr = await api.createQrCode(scene, { permanent: values.permanent, expireSeconds });
    io.out(`scene:    ${scene}`);
    io.out(`ticket:   ${qr.ticket}`);
    io.out(`content:  ${qr.url}`);
    io.out(`image:    ${qr.imageUrl}`);
    io.out(qr.expireSeconds ? `expires:  in ${qr.expireSeconds} s (${new Date(Date.now() + qr.expireSeconds * 1000).toISOString()})` : 'expires:  never (permanent)');
    if (values.out) {
      const file = resolve(values.out);
      // The image encodes WeChat's own content URL, so it works exactly like the one showqrcode serves.
      await QRCode.toFile(file, qr.url, { type: 'png', width: 430, margin: 2, errorCorrectionLevel: 'M' });
      io.out(`png:      ${file}`);
    }
  });
}

if (require.main === module) runCli(wechatQrcode);
