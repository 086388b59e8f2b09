import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { InvoiceMailEntity } from '../../src/modules/invoices/entities';
import { InvoiceRepository } from '../../src/modules/invoices/repository';
import { InvoiceService } from '../../src/modules/invoices/service';
import { OrderService } from '../../src/modules/orders/service';
import { verifyHandler } from '../helpers/handlers';
import { backend, createTestBackend, startInstance, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { OPENSSL } from '../helpers/pki';
import { boundCertificate } from '../helpers/pki-fixtures';

/**
 * The invoice e-mail through a real SMTP server started in this process (smtp-server, implicit TLS with a
 * certificate the client verifies through SMTP_CA_FILE): the message is read back as the server received it,
 * MIME-decoded, and its attachment compared with the PDF we keep.
 */
const DAY = 86_400_000;
let handle: TestBackendHandle;
let app: TestInstance;
let smtp: SMTPServer;
let tlsDir: string;
const received: Array<{ to: string[]; raw: Buffer }> = [];
let refuseNext = 0;
let dataAttempts = 0;

beforeAll(async () => {
  tlsDir = mkdtempSync(join(tmpdir(), 'cam-smtp-'));
  execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(tlsDir, 'key.pem'), '-out', join(tlsDir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  smtp = new SMTPServer({
    secure: true, key: readFileSync(join(tlsDir, 'key.pem')), cert: readFileSync(join(tlsDir, 'cert.pem')), authOptional: true, logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        dataAttempts++;
        if (refuseNext > 0) {
          refuseNext--;
          const err = Object.assign(new Error('4.3.0 try again later'), { responseCode: 451 });
          return callback(err);
        }
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const { port } = smtp.server.address() as AddressInfo;
  handle = await createTestBackend();
  app = await startInstance(handle, {
    env: {
      EINVOICE_SANDBOX_DELAY_MS: '50', EINVOICE_POLL_MS: '25',
      SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_TLS: 'implicit', SMTP_CA_FILE: join(tlsDir, 'cert.pem'), SMTP_FROM: '数安发票 <invoice@example.cn>',
    },
  });
});
afterAll(async () => {
  await app?.close();
  await handle?.drop();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  rmSync(tlsDir, { recursive: true, force: true });
});

async function until<T>(probe: () => Promise<T> | T, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The parts of a multipart message (enough MIME for what nodemailer writes: one level, base64 or quoted-printable). */
function parts(raw: Buffer): Array<{ headers: string; body: string }> {
  const text = raw.toString('utf8');
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(text)?.[1];
  if (!boundary) return [];
  return text.split(`--${boundary}`).slice(1, -1).map((part) => {
    const at = part.indexOf('\r\n\r\n');
    return { headers: part.slice(0, at), body: part.slice(at + 4) };
  });
}

async function issuedInvoice(openid: string, title: string) {
  const orders = new OrderService(app.deps);
  const now = Date.now();
  const cert = await boundCertificate(app.deps, openid, { organization: title, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY), sandbox: true });
  await verifyHandler(app.deps, openid);
  const order = await orders.createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date() });
  await orders.markPaid(order.orderNo, { method: 'transfer', amountFen: order.totalFen, transactionId: `BANK-${order.orderNo}`, paidAt: new Date() });
  const service = new InvoiceService(app.deps);
  const { acceptanceNo } = await service.request(openid, { orderNos: [order.orderNo], buyer: { buyerKind: 'organisation', title, taxId: '91440101MA5CYQ8X3X', email: `${openid}@example.com` } });
  return until(() => service.detail(openid, acceptanceNo), (d) => d.status === 'issued');
}

describe(`invoice e-mail over SMTP (${backend})`, () => {
  it('When an invoice is issued, then an SMTP server over TLS receives the mail with the PDF attached, byte for byte the PDF we keep', async () => {
    const openid = `o-mail-${backend}-a`;
    const detail = await issuedInvoice(openid, '梅州邮件单位');
    const mail = await until(() => received.find((m) => m.to.includes(`${openid}@example.com`)), (m) => !!m);
    expect(mail).toBeDefined();
    const all = parts(mail!.raw);
    const attachment = all.find((p) => /Content-Type: application\/pdf/i.test(p.headers));
    expect(attachment?.headers).toMatch(/Content-Disposition: attachment/i);
    const pdf = Buffer.from(attachment!.body.replace(/\s+/g, ''), 'base64');
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const request = (await new InvoiceRepository().byAcceptanceNo(app.deps.db.manager, detail.acceptanceNo))!;
    const kept = (await new InvoiceRepository().file(app.deps.db.manager, request.id, 'pdf'))!;
    expect(createHash('sha256').update(pdf).digest('hex')).toBe(kept.sha256);
    expect(mail!.raw.toString('utf8')).toMatch(/^Subject: =\?UTF-8\?/m);
    expect((await until(() => new InvoiceService(app.deps).detail(openid, detail.acceptanceNo), (d) => d.emailState === 'sent')).emailState).toBe('sent');
  });

  it('When the SMTP server refuses a send, then the queue sends it again and the row records the attempts', async () => {
    const openid = `o-mail-${backend}-b`;
    const before = dataAttempts;
    refuseNext = 1;
    const detail = await issuedInvoice(openid, '梅州重试单位');
    await until(() => received.find((m) => m.to.includes(`${openid}@example.com`)), (m) => !!m);
    expect(dataAttempts - before).toBe(2);
    const request = (await new InvoiceRepository().byAcceptanceNo(app.deps.db.manager, detail.acceptanceNo))!;
    const row = await until(() => app.deps.db.getRepository(InvoiceMailEntity).findOne({ where: { requestId: request.id } }), (r) => r?.state === 'sent');
    expect(row).toMatchObject({ state: 'sent', attempts: 2, lastError: null });
  });
});
