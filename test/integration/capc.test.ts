import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import QRCode from 'qrcode';
import request from 'supertest';
import { createKeyAgent, type KeyAgent } from '../../src/key-agent/create-agent';
import { KeyAgentClient } from '../../src/key-agent/client';
import { loadKeyAgentConfig } from '../../src/key-agent/config';
import { BindingCodeEntity } from '../../src/modules/binding/entities';
import { CertificateEntity, CertificateReviewEntity } from '../../src/modules/certificates/entities';
import { QR_OPTIONS } from '../../src/modules/capc/service';
import { makeCa, makeLeaf } from '../helpers/pki';
import { createTokenWithCertificate, issueCertificate, type IssuedFixture, signBase64 } from '../helpers/pki-fixtures';
import { generateSoftKeyPair } from '../../src/lib/pki/soft-keys';
import { useTestApp } from '../helpers/use-test-app';

/**
 * /capc/: a PC page session asks for a challenge, the U-KEY signs it, the server checks the signature and the
 * certificate and answers a binding code with a QR of the phone page. Real keys and certificates throughout:
 * the app's built-in CA issues them; the key agent signs in the last test.
 */
const BASE = 'http://cam.test';
/** 8 characters, none of those read alike (0/O, 1/I/L). */
const UNAMBIGUOUS_CODE = /^(?!.*[01OIL])[0-9A-Z]{8}$/;
const DAY = 86_400_000;

const t = useTestApp({ env: { PUBLIC_BASE_URL: BASE, BIND_EXPIRED_GRACE_DAYS: '30' }, startJobs: false });
let serialSeq = 0;

type Agent = ReturnType<typeof request.agent>;
const page = () => request.agent(t.instance.app.callback());
const mediaSerial = () => `9${String(Date.now() % 1e9).padStart(9, '0')}${String(++serialSeq).padStart(6, '0')}`;

async function challenge(agent: Agent): Promise<{ dataBase64: string; text: string; expiresAt: string }> {
  const res = await agent.post('/capc/api/challenge').set('Content-Type', 'application/json').send({});
  expect(res.status).toBe(200);
  return res.body;
}

function postBind(agent: Agent, body: Record<string, unknown>) {
  return agent.post('/capc/api/bind-code').set('Content-Type', 'application/json').send(body);
}

/** The whole PC step with a key in hand: challenge, sign, present. */
async function bind(agent: Agent, fixture: Pick<IssuedFixture, 'key' | 'certificatePem'>, media = mediaSerial()) {
  const c = await challenge(agent);
  return postBind(agent, { certificatePem: fixture.certificatePem, mediaSerial: media, signatureBase64: signBase64(fixture.key, c.dataBase64) });
}

describe('/capc/ page', () => {
  it('When the page is opened (with or without the slash), then it is served with a policy that lets it reach only the site and the key agent', async () => {
    for (const path of ['/capc/', '/capc']) {
      const res = await page().get(path);
      expect(res.status).toBe(200);
      expect(res.text).toContain('获取证书绑定码');
      expect(res.text).toContain('data-agent-url="http://127.0.0.1:17321"');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['content-security-policy']).toContain("connect-src 'self' http://127.0.0.1:17321");
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    }
    const js = await page().get('/static/capc/capc.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toContain('javascript');
    // The key agent's client shared with the renewal page, loaded before the page's own script.
    const html = (await page().get('/capc/')).text;
    const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!.replace(/\?v=[0-9a-f]{10}$/, ''));
    expect(scripts).toEqual(['/static/shared/key-agent-client.js', '/static/capc/capc.js']);
    const client = await page().get(/src="(\/static\/shared\/key-agent-client\.js\?v=[0-9a-f]+)"/.exec(html)![1]!);
    expect([client.status, client.headers['content-type'], client.headers['cache-control']]).toEqual([200, 'application/javascript; charset=utf-8', 'public, max-age=31536000, immutable']);
    expect(client.text).toContain('window.KeyAgentClient');
    const css = await page().get('/static/capc/capc.css');
    expect(css.headers['content-type']).toContain('text/css');
  });
});

describe('/capc/ binding code', () => {
  it('When a valid key signs the challenge, then an 8-character code from the unambiguous alphabet comes back with a QR of the phone page that does not carry the code', async () => {
    const issued = await issueCertificate(t.instance.deps.ca, { organization: '梅州市正常科技有限公司' });
    const media = mediaSerial();
    const res = await bind(page(), issued, media);
    expect(res.status).toBe(200);
    const { code, qrUrl, qrDataUrl, expiresAt, expiresInSeconds, certificate } = res.body;
    expect(code).toMatch(UNAMBIGUOUS_CODE);
    expect(expiresInSeconds).toBeGreaterThan(590);
    expect(expiresInSeconds).toBeLessThanOrEqual(600);
    expect(Math.abs(new Date(expiresAt).getTime() - Date.now() - 600_000)).toBeLessThan(10_000);
    expect(qrUrl).toMatch(new RegExp(`^${BASE}/h5/bind\\?t=[^&]+$`));
    expect(qrUrl).not.toContain(code);
    // The QR is exactly the phone page's URL (which has no code in it): the same URL renders the same image.
    expect(qrDataUrl).toMatch(/^data:image\/png;base64,/);
    expect(qrDataUrl).toBe(await QRCode.toDataURL(qrUrl, QR_OPTIONS));
    expect(certificate).toMatchObject({ organization: '梅州市正常科技有限公司', project: '梅州市住房公积金', certType: '机构证书', mediaSerialMasked: `****${media.slice(-4)}`, expired: false });
    expect(res.headers['cache-control']).toBe('no-store');

    const row = await t.instance.deps.db.manager.findOneByOrFail(CertificateEntity, { fingerprintSha256: issued.cert.fingerprintSha256 });
    expect(row).toMatchObject({ mediaSerial: media, sandbox: true });
    const codes = await t.instance.deps.db.manager.findBy(BindingCodeEntity, { certificateId: row.id });
    expect(codes).toHaveLength(1);
    expect(JSON.stringify(codes[0])).not.toContain(code);
  });

  it('When a code is asked for again, then a new code replaces the previous one', async () => {
    const issued = await issueCertificate(t.instance.deps.ca);
    const agent = page();
    const first = await bind(agent, issued);
    const second = await bind(agent, issued);
    expect(second.status).toBe(200);
    expect(second.body.code).not.toBe(first.body.code);
    const row = await t.instance.deps.db.manager.findOneByOrFail(CertificateEntity, { fingerprintSha256: issued.cert.fingerprintSha256 });
    expect(await t.instance.deps.db.manager.countBy(BindingCodeEntity, { certificateId: row.id })).toBe(1);
  });

  it('When a signed challenge is presented twice, then the second presentation is refused (single use)', async () => {
    const issued = await issueCertificate(t.instance.deps.ca);
    const agent = page();
    const c = await challenge(agent);
    const body = { certificatePem: issued.certificatePem, mediaSerial: mediaSerial(), signatureBase64: signBase64(issued.key, c.dataBase64) };
    expect((await postBind(agent, body)).status).toBe(200);
    const replay = await postBind(agent, body);
    expect(replay.status).toBe(400);
    expect(replay.body.error.message).toBe('验证已过期，请重新获取绑定码');
  });

  it('When another browser session presents a signature over this session\'s challenge, then it is refused and the owner can still use it', async () => {
    const issued = await issueCertificate(t.instance.deps.ca);
    const owner = page();
    const c = await challenge(owner);
    const body = { certificatePem: issued.certificatePem, mediaSerial: mediaSerial(), signatureBase64: signBase64(issued.key, c.dataBase64) };
    const stranger = page();
    expect((await postBind(stranger, body)).status).toBe(400); // no challenge of its own
    await challenge(stranger); // its own challenge is another text: the stolen signature does not verify
    const stolen = await postBind(stranger, body);
    expect(stolen.status).toBe(403);
    expect(stolen.body.error.message).toContain('签名验证失败');
    expect((await postBind(owner, body)).status).toBe(200);
  });

  it('When the challenge is signed by another key than the certificate\'s, then no code is issued', async () => {
    const issued = await issueCertificate(t.instance.deps.ca);
    const res = await bind(page(), { certificatePem: issued.certificatePem, key: generateSoftKeyPair('ECDSA-P256') });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('签名验证失败');
    expect(await t.instance.deps.db.manager.findOneBy(CertificateEntity, { fingerprintSha256: issued.cert.fingerprintSha256 })).toBeNull();
  });

  it('When the certificate does not chain to a trusted root, then it is refused', async () => {
    const stranger = await makeCa('ECDSA-P256', '别家 Root CA');
    const leaf = await makeLeaf(stranger, 'ECDSA-P256', { commonName: '李四', organization: '别家公司', organizationalUnit: '梅州市住房公积金' });
    const res = await bind(page(), { certificatePem: leaf.cert.pem, key: leaf.key });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('不是由受信任的证书机构签发');
  });

  it('When the certificate is revoked, then it is refused', async () => {
    const issued = await issueCertificate(t.instance.deps.ca);
    await t.instance.deps.ca.revoke(issued.cert.serialHex, 'keyCompromise');
    const res = await bind(page(), issued);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('该证书已吊销');
  });

  it('When the certificate expired longer ago than the grace period, then it is refused', async () => {
    const issued = await issueCertificate(t.instance.deps.ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 31 * DAY) });
    const res = await bind(page(), issued);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/该证书已过期超过 30 天.*请联系客服/);
  });

  it('When the certificate expired within the grace period, then a code is issued (it can still be renewed)', async () => {
    const issued = await issueCertificate(t.instance.deps.ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 10 * DAY) });
    const res = await bind(page(), issued);
    expect(res.status).toBe(200);
    expect(res.body.certificate.expired).toBe(true);
  });

  it('When no project rule knows the certificate type, then it is queued for an operator and refused', async () => {
    const issued = await issueCertificate(t.instance.deps.ca, { certType: '设备证书' });
    const res = await bind(page(), issued);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain('该证书类型暂不支持在线办理，已提交人工审核');
    const review = await t.instance.deps.db.manager.findOneBy(CertificateReviewEntity, { fingerprintSha256: issued.cert.fingerprintSha256 });
    expect(review).toMatchObject({ status: 'pending', seenCount: 1 });
  });

  it('When the key agent signs with a soft token, then the code is issued as for a real U-KEY', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capc-tokens-'));
    let agent: KeyAgent | undefined;
    try {
      const token = await createTokenWithCertificate(t.instance.deps.ca, { dir, pin: '246810', organization: '梅州市助手科技有限公司' });
      agent = createKeyAgent(loadKeyAgentConfig({ KEY_AGENT_PORT: '0', KEY_AGENT_BACKENDS: 'soft', KEY_AGENT_SOFT_TOKEN_DIR: dir, KEY_AGENT_ALLOWED_ORIGINS: BASE, LOG_LEVEL: 'silent' }));
      const { url } = await agent.listen();
      const client = new KeyAgentClient({ url, origin: BASE });
      const { certificates } = await client.call('cert.list', { mediaSerial: token.mediaSerial });
      const onToken = certificates.find((c) => c.serialHex === token.cert.serialHex)!;
      const browser = page();
      const c = await challenge(browser);
      const signed = await client.call('sign', { mediaSerial: token.mediaSerial, certificateId: onToken.certificateId, pin: token.pin, dataBase64: c.dataBase64 });
      const res = await postBind(browser, { certificatePem: onToken.pem, mediaSerial: token.mediaSerial, signatureBase64: signed.signatureBase64 });
      expect(res.status).toBe(200);
      expect(res.body.certificate.organization).toBe('梅州市助手科技有限公司');
    } finally {
      await agent?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('/capc/ describe', () => {
  it('When the page asks what the certificates on a key are, then each gets its project, type and state (or null when unreadable), and nothing is recorded', async () => {
    const valid = await issueCertificate(t.instance.deps.ca, { certType: '个人证书', commonName: '赵六' });
    const lapsed = await issueCertificate(t.instance.deps.ca, { notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - 5 * DAY) });
    const garbage = `-----BEGIN CERTIFICATE-----\n${Buffer.from('garbage').toString('base64')}\n-----END CERTIFICATE-----\n`;
    const res = await page().post('/capc/api/describe').set('Content-Type', 'application/json').send({ certificates: [valid.certificatePem, lapsed.certificatePem, garbage] });
    expect(res.status).toBe(200);
    expect(res.body.certificates).toEqual([
      expect.objectContaining({ project: '梅州市住房公积金', certType: '个人证书', commonName: '赵六', state: 'valid' }),
      expect.objectContaining({ certType: '机构证书', state: 'expired-grace' }),
      null,
    ]);
    expect(await t.instance.deps.db.manager.findOneBy(CertificateEntity, { fingerprintSha256: valid.cert.fingerprintSha256 })).toBeNull();
  });
});

describe('/capc/ API guards', () => {
  it('When the Origin is another site, then the API refuses (CSRF)', async () => {
    const res = await page().post('/capc/api/challenge').set('Origin', 'https://evil.example').set('Content-Type', 'application/json').send({});
    expect(res.status).toBe(403);
    expect(res.body.error.message).toBe('请通过官方网址打开绑定页面后重试');
    expect((await page().post('/capc/api/challenge').set('Origin', BASE).set('Content-Type', 'application/json').send({})).status).toBe(200);
  });

  it('When the body is not JSON, then it is refused with 415 as JSON, whatever the Accept header says', async () => {
    const res = await page().post('/capc/api/challenge').set('Accept', 'text/html').type('form').send('a=b');
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('When the input is malformed or too large, then it is refused with a Chinese message', async () => {
    const agent = page();
    await challenge(agent);
    const bad = await postBind(agent, { certificatePem: 'hello', mediaSerial: '1234', signatureBase64: 'AAAAAAAAAAAAAAAAAAAA' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe('证书格式不正确（需 PEM 格式）');
    const extra = await postBind(agent, { certificatePem: 'x', mediaSerial: '1234', signatureBase64: 'x', pin: '123456' });
    expect(extra.status).toBe(400);
    const huge = await postBind(agent, { certificatePem: 'A'.repeat(40_000), mediaSerial: '1234', signatureBase64: 'x' });
    expect(huge.status).toBe(413);
  });

  it('When one session asks for challenges too often, then it is slowed down with 429 and Retry-After', async () => {
    const agent = page();
    let last: request.Response | undefined;
    for (let i = 0; i < 31; i++) last = await agent.post('/capc/api/challenge').set('Content-Type', 'application/json').send({});
    expect(last!.status).toBe(429);
    expect(last!.body.error.message).toBe('操作过于频繁，请稍后再试');
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
  });
});
