import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { KeyAgentClient } from '../../src/key-agent/client';
import { randomBytes } from 'node:crypto';
import { createSoftToken } from '../../src/key-agent/soft-token-admin';
import { backend } from '../helpers/harness';
import { csrfOf, loginAs } from '../helpers/h5-login';
import { withCheckDigit } from '../helpers/pki-fixtures';
import { createSoftHsm, describeWithSoftHsm, type SoftHsm } from '../helpers/softhsm';
import { type AgentProcess, spawnKeyAgent } from './no-backend/key-agent/fixtures';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The whole binding journey as the PC and the phone do it, through the real key agent (a separate process, as
 * on a user's PC): a key pair made on the token, a certificate from the app's CA installed on it, the /capc/
 * challenge signed on the token, the code typed on the phone with the last 4 of the token's serial, and the
 * certificate in 我的数字证书. Once on a PKCS#11 token (SoftHSM2) and once on a soft token.
 */
const BASE = 'http://cam.test';
const DAY = 86_400_000;

const t = useTestApp({ wechat: true, env: { PUBLIC_BASE_URL: BASE, TRUST_PROXY: 'true' }, startJobs: false });

/** The issuing desk: a key pair generated on the token, a certificate from our CA written to it and confirmed. */
async function issueOnToken(client: KeyAgentClient, mediaSerial: string, pin: string, organization: string, algorithm: 'RSA-2048' | 'ECDSA-P256' | 'SM2') {
  const subject = { organization, creditCode: withCheckDigit('91441400MA4UAGNT1'), commonName: '经办人', country: 'CN' };
  const { keyId, csrPem } = await client.call('keygen.csr', { mediaSerial, pin, algorithm, subject });
  const issued = await t.instance.deps.ca.issue({
    requestId: `agent-${randomBytes(6).toString('hex')}`, csrPem, subject, mediaSerial,
    profile: { project: '梅州市住房公积金', certType: '机构证书', usage: 'sign' },
    validity: { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) },
  });
  const installed = await client.call('cert.install', { mediaSerial, pin, keyId, certificatePem: issued.certificatePem });
  await client.call('cert.confirm', { mediaSerial, pin, certificateId: installed.certificateId });
  return issued;
}

async function journey(client: KeyAgentClient, mediaSerial: string, pin: string, organization: string, openid: string) {
  // PC: the page lists the key's certificates, gets a challenge, the agent signs it with the PIN.
  const { certificates } = await client.call('cert.list', { mediaSerial });
  const cert = certificates.find((c) => c.subjectDn.includes(organization))!;
  const pc = request.agent(t.instance.app.callback());
  const challenge = (await pc.post('/capc/api/challenge').set('Content-Type', 'application/json').send({})).body;
  const { signatureBase64 } = await client.call('sign', { mediaSerial, certificateId: cert.certificateId, pin, dataBase64: challenge.dataBase64 });
  const coded = await pc.post('/capc/api/bind-code').set('Content-Type', 'application/json').send({ certificatePem: cert.pem, mediaSerial, signatureBase64 });
  expect(coded.status).toBe(200);

  // Phone: the code and the last 4 of the media serial.
  const phone = await loginAs(t.instance.app, t.sandbox, openid, '10.9.0.1');
  const form = await phone.get('/h5/bind');
  const done = await phone.post('/h5/bind').type('form').send({ _csrf: csrfOf(form.text), code: coded.body.code, last4: mediaSerial.slice(-4) });
  expect(done.text).toContain('绑定成功');
  const list = await phone.get('/h5/certs');
  expect(list.text).toContain(organization);
  expect(list.text).toContain(`****${mediaSerial.slice(-4)}`);
}

describeWithSoftHsm(`binding through the key agent on a PKCS#11 token (SoftHSM2, ${backend})`, () => {
  let hsm: SoftHsm;
  let agent: AgentProcess;
  beforeAll(async () => {
    hsm = createSoftHsm([{ label: 'BIND-E2E', pin: '8642' }]);
    agent = await spawnKeyAgent({ ...hsm.env, KEY_AGENT_BACKENDS: 'pkcs11', KEY_AGENT_PKCS11_MODULE: hsm.modulePath, KEY_AGENT_ALLOWED_ORIGINS: BASE });
  }, 40_000);
  afterAll(async () => {
    await agent?.stop();
    hsm?.cleanup();
  });

  it('When the certificate lives on a SoftHSM2 token, then the PC gets a code and the phone binds it', async () => {
    const client = new KeyAgentClient({ url: agent.url, origin: BASE });
    const serial = hsm.tokens[0].serial;
    await issueOnToken(client, serial, '8642', '梅州市硬件令牌有限公司', 'RSA-2048');
    await journey(client, serial, '8642', '梅州市硬件令牌有限公司', 'oHsmHandler');
  }, 40_000);
});

describe(`binding through the key agent on a soft token (${backend})`, () => {
  it('When the certificate is SM2 on a soft token, then the PC gets a code and the phone binds it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bind-agent-'));
    const token = await createSoftToken({ dir, pin: '975310' });
    const agent = await spawnKeyAgent({ KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: dir, KEY_AGENT_ALLOWED_ORIGINS: BASE });
    try {
      const client = new KeyAgentClient({ url: agent.url, origin: BASE });
      await issueOnToken(client, token.mediaSerial, '975310', '梅州市国密软令牌有限公司', 'SM2');
      await journey(client, token.mediaSerial, '975310', '梅州市国密软令牌有限公司', 'oSoftHandler');
    } finally {
      await agent.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
