import QRCode from 'qrcode';
import { randomToken, cryptoRandom } from '../lib/clock';
import { AppError } from '../lib/errors';
import { consoleAudit } from '../modules/console/audit';
import { OperatorService } from '../modules/console/operators';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';

const USAGE = 'Usage: npm run admin:create -- --username <name> --name <显示名> [--password-stdin]';

/**
 * `npm run admin:create`: the first 管理员 of the console, from the server shell (nobody can log in to create one).
 * Refuses once an enabled 管理员 exists: further operators are created in the console (/operators), where it is
 * audited and role grants need a second 管理员. The password is generated (or read from stdin with --password-stdin,
 * so it stays out of the shell history); it and the TOTP secret are printed once, with the otpauth URI as a QR code
 * for the authenticator app, and never again.
 */
export async function adminCreate(io: CliIo, argv: string[], stdin: () => Promise<string> = readStdinLine): Promise<void> {
  const arg = (flag: string) => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] ?? '' : undefined;
  };
  const username = arg('--username');
  const displayName = arg('--name');
  if (!username || !displayName) throw new CliError(USAGE);
  const password = argv.includes('--password-stdin') ? await stdin() : randomToken(cryptoRandom, 20);

  await withDeps(io, { wechat: false }, async (deps) => {
    const operators = new OperatorService(deps);
    if ((await operators.countActiveWithRole('admin')) > 0) {
      throw new CliError('An enabled 管理员 exists already: create further operators in the console (/operators), where it is audited.');
    }
    let created;
    try {
      created = await operators.create({ username, displayName, password, roles: ['admin'] });
    } catch (err) {
      if (err instanceof AppError && err.status < 500) throw new CliError(err.userMessage);
      throw err;
    }
    await consoleAudit(deps).record(null, { action: 'operator.create', subject: `operator:${created.operator.id}`, after: { username: created.operator.username, roles: ['admin'] }, detail: { via: 'admin:create' } }, { id: 0, username: 'cli' });
    const uri = operators.totpUri(created.operator.username, created.totpSecret);
    io.out(`管理员 ${created.operator.username} (${created.operator.displayName}) created. Shown once — keep them safe:`);
    if (!argv.includes('--password-stdin')) io.out(`  password:    ${password}`);
    io.out(`  TOTP secret: ${created.totpSecret}`);
    io.out(`  otpauth URI: ${uri}`);
    io.out('Scan this with the authenticator app (Microsoft/Google Authenticator, 腾讯身份验证器…):');
    io.out(await QRCode.toString(uri, { type: 'utf8', errorCorrectionLevel: 'M' }));
    io.out(`Console: ${deps.config.console.baseUrl}/login`);
  });
}

async function readStdinLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (at least 12 characters): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (Buffer.concat(chunks).includes(10)) break;
  }
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]!;
}

if (require.main === module) runCli(adminCreate);
