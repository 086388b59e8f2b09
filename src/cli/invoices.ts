import { userInfo } from 'node:os';
import { fenToYuanString } from '../modules/invoices/amounts';
import { formatDateTime } from '../modules/certificates/view-model';
import { InvoiceIssuance } from '../modules/invoices/issuance';
import { InvoiceLinks } from '../modules/invoices/link-access';
import { invoiceHealth, resendInvoiceMail } from '../modules/invoices/operator';
import { RedLetters } from '../modules/invoices/red-letter';
import { type InvoiceBuyer } from '../modules/invoices/schemas';
import { type RedReason } from '../providers/einvoice/types';
import { type CliIo, CliError, runCli, withDeps } from './bootstrap';

const USAGE = `Usage:
  npm run invoices:status                                  issuer (开票员 login, 实人认证, 授信额度) and invoices needing a person
  npm run invoices:retry -- <受理单号> [--title T] [--tax-id X] [--email E]   a failed request: new attempt (corrected data)
  npm run invoices:red-letter -- <受理单号> [--reason issued-in-error|sales-return|service-stopped|sales-allowance]
  npm run invoices:reissue -- <受理单号> [--title T] [--tax-id X]           after 红冲: a new invoice for the same orders
  npm run invoices:revoke-link -- <受理单号> [--new]                        revoke its /i/ links (--new: issue a fresh one)
  npm run invoices:resend -- <受理单号> [--to E]                            e-mail the PDF again
  (every command takes --by <name>; default: $USER)`;

const REASONS: readonly RedReason[] = ['issued-in-error', 'sales-return', 'service-stopped', 'sales-allowance'];

function option(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  if (at < 0) return undefined;
  const value = argv[at + 1];
  if (!value || value.startsWith('--')) throw new CliError(`${name} needs a value.\n${USAGE}`);
  return value;
}

function corrections(argv: string[]): Partial<InvoiceBuyer> {
  const out: Partial<InvoiceBuyer> = {};
  const title = option(argv, '--title');
  const taxId = option(argv, '--tax-id');
  const email = option(argv, '--email');
  if (title) out.title = title;
  if (taxId) out.taxId = taxId;
  if (email) out.email = email;
  return out;
}

/** `npm run invoices:<command>`: the operator's side of 我的发票 (issue 11) until the console has pages for it. */
export async function invoicesCli(io: CliIo, argv: string[]): Promise<void> {
  const [command, acceptanceNo] = argv;
  const by = `operator:${option(argv, '--by') ?? io.env.USER ?? userInfo().username}`;
  if (!command || (command !== 'status' && !acceptanceNo)) throw new CliError(USAGE);
  await withDeps(io, { wechat: false }, async (deps) => {
    switch (command) {
      case 'status': {
        const health = await invoiceHealth(deps);
        if ('error' in health.issuer) io.out(`Issuer: could not ask the provider (${deps.einvoice.mode}): ${health.issuer.error}`);
        else {
          const i = health.issuer;
          io.out(`Issuer (${deps.einvoice.mode}): 开票员 ${i.clerk}; login ${i.login}; 实人认证 ${i.identityCheck}; 授信额度 ${i.creditLeftFen === null ? 'unknown' : `${fenToYuanString(i.creditLeftFen)} 元 left`}${i.creditTotalFen === null ? '' : ` of ${fenToYuanString(i.creditTotalFen)} 元`}`);
          if (i.login !== 'logged-in') io.out('  → the 开票员 must log in to the 电子税局 (QR code in the Nuonuo console): nothing is issued meanwhile.');
          if (i.identityCheck === 'required') io.out('  → 实人认证 is due: the 开票员 scans the face-check QR code in the Nuonuo console / 电子税务局 app.');
          io.out(`  (${i.detail})`);
        }
        const line = (r: { acceptanceNo: string; title: string; totalFen: number; updatedAt: Date; failureReason: string | null }) =>
          `  ${r.acceptanceNo}  ${fenToYuanString(r.totalFen)} 元  ${r.title}  since ${formatDateTime(r.updatedAt)}${r.failureReason ? `  — ${r.failureReason}` : ''}`;
        io.out(`Still 开票中 after 15 minutes: ${health.stuck.length}`);
        health.stuck.forEach((r) => io.out(line(r)));
        io.out(`开具失败 (retry with invoices:retry): ${health.failed.length}`);
        health.failed.forEach((r) => io.out(line(r)));
        io.out(`待购方确认 (红字确认单 waits for the buyer): ${health.awaitingBuyer.length}`);
        health.awaitingBuyer.forEach((r) => io.out(line(r)));
        io.out(`E-mails failed for good (resend with invoices:resend): ${health.mailsFailed.length}`);
        health.mailsFailed.forEach((m) => io.out(`  ${m.mailKey}  attempts ${m.attempts}  ${m.lastError ?? ''}`));
        io.out(`E-mails still owed after 5 minutes: ${health.mailsOwed.length}`);
        health.mailsOwed.forEach((m) => io.out(`  ${m.mailKey}  attempts ${m.attempts}  ${m.lastError ?? ''}`));
        return;
      }
      case 'retry': {
        const key = await new InvoiceIssuance(deps).retry(acceptanceNo!, by, corrections(argv));
        io.out(`${acceptanceNo}: new attempt ${key} queued.`);
        return;
      }
      case 'red-letter': {
        const reason = (option(argv, '--reason') ?? 'issued-in-error') as RedReason;
        if (!REASONS.includes(reason)) throw new CliError(`--reason must be one of ${REASONS.join(', ')}`);
        const result = await new RedLetters(deps).request(acceptanceNo!, by, reason);
        io.out(`${acceptanceNo}: red letter ${result.redAcceptanceNo} — ${result.state === 'awaiting-buyer' ? '待购方确认 (the buyer confirms at the 电子税局)' : result.state === 'issuing' ? 'issuing' : `refused: ${result.detail}`}`);
        return;
      }
      case 'reissue': {
        const fixes = corrections(argv);
        const replacement = await new RedLetters(deps).reissue(acceptanceNo!, by, Object.keys(fixes).length ? fixes : null);
        io.out(`${acceptanceNo}: re-issued as ${replacement}.`);
        return;
      }
      case 'revoke-link': {
        const result = await new InvoiceLinks(deps).revoke(acceptanceNo!, by, argv.includes('--new'));
        io.out(`${acceptanceNo}: ${result.revoked} link(s) revoked${result.reissued ? '; a new link is on the detail page' : ''}.`);
        return;
      }
      case 'resend': {
        const to = await resendInvoiceMail(deps, acceptanceNo!, by, option(argv, '--to'));
        io.out(`${acceptanceNo}: e-mail queued to ${to.replace(/^(.).*(@.*)$/, '$1***$2')}.`);
        return;
      }
      default:
        throw new CliError(USAGE);
    }
  });
}

if (require.main === module) runCli(invoicesCli);
