import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import { KeyAgentClient } from '../../src/key-agent/client';
import { loadKeyAgentConfig } from '../../src/key-agent/config';
import { createKeyAgent, type KeyAgent } from '../../src/key-agent/create-agent';
import { createSoftToken } from '../../src/key-agent/soft-token-admin';
import { anonymousAgent, consoleAppFor, createOperator, loginAgent, type ConsoleAgent, type TestOperator } from '../helpers/console';
import { withCheckDigit } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/**
 * U-KEY as the console's second factor, through the real key agent (soft token, in-process agent over HTTP): the
 * operator enrols the certificate on their key, then logs in with password + a challenge signed on the key.
 */
const ORIGIN = 'http://console.test';
const DAY = 86_400_000;
const PIN = '246810';
const t = useTestApp();
let app: Koa;
let agent: KeyAgent;
let client: KeyAgentClient;
let dir: string;
let mediaSerial: string;

beforeAll(async () => {
  app = consoleAppFor(t.instance.deps);
  dir = mkdtempSync(join(tmpdir(), 'console-ukey-'));
  mediaSerial = (await createSoftToken({ dir, pin: PIN })).mediaSerial;
  agent = createKeyAgent(loadKeyAgentConfig({ KEY_AGENT_PORT: '0', KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: dir, KEY_AGENT_ALLOWED_ORIGINS: ORIGIN, LOG_LEVEL: 'silent' }));
  const { url } = await agent.listen();
  client = new KeyAgentClient({ url, origin: ORIGIN });
});
afterAll(async () => {
  await agent?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A certificate from the app's CA, its key made on the token. */
async function issueOnToken(organization: string): Promise<{ certificateId: string; pem: string }> {
  const subject = { organization, creditCode: withCheckDigit('91441400MA4UAGNT1'), commonName: '运营管理员', country: 'CN' };
  const { keyId, csrPem } = await client.call('keygen.csr', { mediaSerial, pin: PIN, algorithm: 'ECDSA-P256', subject });
  const issued = await t.instance.deps.ca.issue({
    requestId: `console-${randomBytes(6).toString('hex')}`, csrPem, subject, mediaSerial,
    profile: { project: '梅州市住房公积金', certType: '机构证书', usage: 'sign' },
    validity: { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) },
  });
  const installed = await client.call('cert.install', { mediaSerial, pin: PIN, keyId, certificatePem: issued.certificatePem });
  await client.call('cert.confirm', { mediaSerial, pin: PIN, certificateId: installed.certificateId });
  return { certificateId: installed.certificateId, pem: issued.certificatePem };
}

const sign = async (certificateId: string, dataBase64: string) => (await client.call('sign', { mediaSerial, certificateId, pin: PIN, dataBase64 })).signatureBase64;

async function enrol(op: TestOperator, cert: { certificateId: string; pem: string }): Promise<void> {
  const session = await loginAgent(app, t.instance.deps, op);
  const challenge = await session.post('/account/ukey/challenge').set('x-csrf-token', session.csrf).send({});
  expect(challenge.status).toBe(200);
  const done = await session.post('/account/ukey').set('x-csrf-token', session.csrf)
    .send({ certificatePem: cert.pem, signatureBase64: await sign(cert.certificateId, challenge.body.dataBase64) });
  expect(done.status).toBe(200);
}

async function ukeyLogin(browser: ConsoleAgent, op: TestOperator, certificateId: string, pem: string) {
  const challenge = await browser.post('/login/ukey/challenge').set('x-csrf-token', browser.csrf).send({ username: op.username });
  expect(challenge.status).toBe(200);
  const signatureBase64 = await sign(certificateId, challenge.body.dataBase64);
  const res = await browser.post('/login/ukey').set('x-csrf-token', browser.csrf).send({ username: op.username, password: op.password, certificatePem: pem, signatureBase64, next: '/approvals' });
  return { res, signatureBase64 };
}

describe('U-KEY login through the key agent', () => {
  it('When the operator signs the login challenge with the enrolled U-KEY, then the session opens; the same signature never opens another', async () => {
    const op = await createOperator(t.instance.deps, { roles: ['finance'] });
    const cert = await issueOnToken('数安时代运营部');
    await enrol(op, cert);

    const browser = await anonymousAgent(app);
    const { res, signatureBase64 } = await ukeyLogin(browser, op, cert.certificateId, cert.pem);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ next: '/approvals' });
    expect((await browser.get('/approvals')).status).toBe(200);

    // Replayed: a new browser without a live challenge of its own presents the old signature.
    const replay = await anonymousAgent(app);
    const again = await replay.post('/login/ukey').set('x-csrf-token', replay.csrf).send({ username: op.username, password: op.password, certificatePem: cert.pem, signatureBase64 });
    expect(again.status).toBe(401);
    expect((await replay.get('/approvals')).status).toBe(302);
  });

  it('When another certificate (not the enrolled one) signs, or the password is wrong, then the login is refused', async () => {
    const op = await createOperator(t.instance.deps, { roles: ['support'] });
    const enrolled = await issueOnToken('数安时代客服部');
    const other = await issueOnToken('数安时代其他部门');
    await enrol(op, enrolled);

    const browser = await anonymousAgent(app);
    const { res } = await ukeyLogin(browser, op, other.certificateId, other.pem);
    expect(res.status).toBe(401);
    expect(res.body.error.message).toContain('U-KEY');

    const wrongPassword = await anonymousAgent(app);
    const challenge = await wrongPassword.post('/login/ukey/challenge').set('x-csrf-token', wrongPassword.csrf).send({ username: op.username });
    const refused = await wrongPassword.post('/login/ukey').set('x-csrf-token', wrongPassword.csrf)
      .send({ username: op.username, password: 'not the password', certificatePem: enrolled.pem, signatureBase64: await sign(enrolled.certificateId, challenge.body.dataBase64) });
    expect(refused.status).toBe(401);
  });

  it('When an operator without an enrolled U-KEY signs with any certificate, then the login is refused', async () => {
    const op = await createOperator(t.instance.deps, { roles: ['support'] });
    const cert = await issueOnToken('数安时代未登记');
    const { res } = await ukeyLogin(await anonymousAgent(app), op, cert.certificateId, cert.pem);
    expect(res.status).toBe(401);
  });

  it('When a logged-in operator re-authenticates with password + U-KEY, then the step-up is granted; a login challenge cannot be used for it', async () => {
    const op = await createOperator(t.instance.deps, { roles: ['admin'] });
    const cert = await issueOnToken('数安时代审批部');
    await enrol(op, cert);
    const session = await loginAgent(app, t.instance.deps, op);
    const challenge = await session.post('/step-up/ukey/challenge').set('x-csrf-token', session.csrf).send({});
    const ok = await session.post('/step-up/ukey').set('x-csrf-token', session.csrf)
      .send({ password: op.password, certificatePem: cert.pem, signatureBase64: await sign(cert.certificateId, challenge.body.dataBase64), next: '/operators' });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ next: '/operators' });

    // A login challenge (another purpose) signed and presented to step-up is refused.
    const login = await session.post('/login/ukey/challenge').set('x-csrf-token', session.csrf).send({ username: op.username });
    const refused = await session.post('/step-up/ukey').set('x-csrf-token', session.csrf)
      .send({ password: op.password, certificatePem: cert.pem, signatureBase64: await sign(cert.certificateId, login.body.dataBase64) });
    expect(refused.status).toBe(401);
  });
});
