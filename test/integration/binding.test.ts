import { BindingCodeService } from '../../src/modules/binding/codes';
import { CertificateBindingEntity } from '../../src/modules/binding/entities';
import { BindingError, BindingService } from '../../src/modules/binding/service';
import { LockedOutError } from '../../src/lib/http/rate-limit';
import { type Certificate } from '../../src/modules/certificates/entities';
import { certificateServiceFor } from '../../src/modules/certificates/service';
import { TestClock, backend } from '../helpers/harness';
import { type Agent, csrfOf, loginAs } from '../helpers/h5-login';
import { issueCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

const clock = new TestClock();
let seq = 0;

const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true' }, clock, startJobs: false });

/** A certificate known to the system (presented once at /capc/), on a U-KEY with this media serial. */
async function knownCertificate(mediaSerial = `90000000${String(++seq).padStart(4, '0')}${String(Date.now() % 10000).padStart(4, '0')}`): Promise<Certificate> {
  const issued = await issueCertificate(t.instance.deps.ca, { mediaSerial, organization: `梅州测试单位${seq}` });
  return certificateServiceFor(t.instance.deps).acceptPresented({ pem: issued.certificatePem, mediaSerial, at: new Date(clock.nowMs()) });
}

const codes = () => new BindingCodeService(t.instance.deps);
const phone = (openid: string, ip: string) => loginAs(t.instance.app, t.sandbox, openid, ip);
let ipSeq = 0;
const freshIp = () => `10.1.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`;

async function submit(agent: Agent, fields: { code?: string; last4: string }) {
  const page = await agent.get('/h5/bind');
  return agent.post('/h5/bind').type('form').send({ _csrf: csrfOf(page.text), ...fields });
}

const errorOf = (html: string) => /data-error>([^<]+)</.exec(html)?.[1];
const activeBindings = async (certificateId: number) => t.instance.deps.db.getRepository(CertificateBindingEntity).find({ where: { certificateId } });

describe(`binding on the phone (${backend})`, () => {
  it('When the code and the last 4 of the media serial match, then the certificate is bound and listed in 我的数字证书', async () => {
    const cert = await knownCertificate();
    const { code } = await codes().issue(cert.id, { sandbox: false });
    const agent = await phone('oBindHappy', freshIp());
    const res = await submit(agent, { code: `${code.slice(0, 4).toLowerCase()}-${code.slice(4)}`, last4: cert.mediaSerial!.slice(-4) });
    expect(res.status).toBe(200);
    expect(res.text).toContain('绑定成功');
    const list = await agent.get('/h5/certs');
    expect(list.text).toContain(cert.organization!);
    expect(list.text).toContain(`****${cert.mediaSerial!.slice(-4)}`);
    expect(list.text).not.toContain(cert.mediaSerial!);
    const rows = await activeBindings(cert.id);
    expect(rows).toEqual([expect.objectContaining({ openid: 'oBindHappy', source: 'capc', active: true })]);
  });

  it('When the last 4 digits are wrong five times, then each refusal says how many tries are left and the code is burnt', async () => {
    const cert = await knownCertificate();
    const { code } = await codes().issue(cert.id, { sandbox: false });
    const agent = await phone('oBindBurn', freshIp());
    const messages: string[] = [];
    for (let i = 0; i < 5; i++) messages.push(errorOf((await submit(agent, { code, last4: '0000' })).text) ?? '');
    expect(messages.slice(0, 4)).toEqual([4, 3, 2, 1].map((n) => `介质编号后四位不正确（还可尝试 ${n} 次）`));
    expect(messages[4]).toContain('该绑定码已失效');
    const right = await submit(agent, { code, last4: cert.mediaSerial!.slice(-4) });
    expect(right.status).toBe(400);
    expect(errorOf(right.text)).toContain('该绑定码已失效');
    expect(await activeBindings(cert.id)).toHaveLength(0);
  });

  it('When one openid fails ten times, then it is locked out with the minutes to wait, even with a right code', async () => {
    const cert = await knownCertificate();
    const { code } = await codes().issue(cert.id, { sandbox: false });
    const agent = await phone('oBindGuesser', freshIp());
    for (let i = 0; i < 10; i++) expect((await submit(agent, { code: 'ABCDEFGH', last4: '1234' })).status).toBe(400);
    const locked = await submit(agent, { code, last4: cert.mediaSerial!.slice(-4) });
    expect(locked.status).toBe(429);
    expect(errorOf(locked.text)).toBe('尝试次数过多，请 15 分钟后再试');
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(14 * 60);
  });

  it('When many openids guess from one IP, then the IP is locked out', async () => {
    const ip = freshIp();
    let refused = 0;
    for (let p = 0; p < 4; p++) {
      const agent = await phone(`oBindIp${p}`, ip);
      for (let i = 0; i < 8; i++) if ((await submit(agent, { code: 'ABCDEFGH', last4: '1234' })).status === 429) refused++;
    }
    expect(refused).toBe(2);
  });

  it('When 200 wrong codes arrive at once from one openid, then at most 10 are judged and the rest are locked out', async () => {
    const service = new BindingService(t.instance.deps);
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => service.redeem({ openid: 'oBurstOpenid', ip: freshIp(), code: `ABCDEF${String(i % 90 + 10)}`, mediaLast4: '1234' })
      .then(() => 'bound', (err: unknown) => (err instanceof LockedOutError ? 'locked' : err instanceof BindingError ? 'judged' : String(err)))));
    expect(outcomes.filter((o) => o === 'judged')).toHaveLength(10);
    expect(outcomes.filter((o) => o === 'locked')).toHaveLength(190);
  });

  it('When 200 wrong codes arrive at once from one IP, then at most 30 are judged and the rest are locked out', async () => {
    const service = new BindingService(t.instance.deps);
    const ip = freshIp();
    const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => service.redeem({ openid: `oBurstIp${i}`, ip, code: 'ABCDEFGH', mediaLast4: '1234' })
      .then(() => 'bound', (err: unknown) => (err instanceof LockedOutError ? 'locked' : err instanceof BindingError ? 'judged' : String(err)))));
    expect(outcomes.filter((o) => o === 'judged')).toHaveLength(30);
    expect(outcomes.filter((o) => o === 'locked')).toHaveLength(170);
  });

  it('When 20 wrong last-4 guesses at one code arrive at once, then at most 5 are compared and the code is burnt', async () => {
    const cert = await knownCertificate();
    const { code } = await codes().issue(cert.id, { sandbox: false });
    const service = new BindingService(t.instance.deps);
    const messages = await Promise.all(Array.from({ length: 20 }, (_, i) => service.redeem({ openid: `oBurstCode${i}`, ip: freshIp(), code, mediaLast4: String(1000 + i) })
      .then(() => 'bound', (err: unknown) => (err instanceof BindingError ? err.reason : String(err)))));
    expect(messages.filter((m) => m === 'wrong-media').length).toBeLessThanOrEqual(4);
    expect(messages.filter((m) => m === 'wrong-media' || m === 'burnt')).toHaveLength(20);
    const right = await service.redeem({ openid: 'oBurstCodeOwner', ip: freshIp(), code, mediaLast4: cert.mediaSerial!.slice(-4) }).catch((err: unknown) => err);
    expect(right).toMatchObject({ reason: 'burnt' });
  });

  it('When guesses come through the proxy with a forged X-Forwarded-For each time, then the real address is still locked out', async () => {
    const realIp = freshIp();
    let refused = 0;
    for (let p = 0; p < 4; p++) {
      const agent = await phone(`oBindSpoof${p}`, realIp);
      for (let i = 0; i < 8; i++) {
        const page = await agent.get('/h5/bind');
        // The client writes any leftmost entry it likes; our proxy appends the address it saw.
        const res = await agent.post('/h5/bind').set('X-Forwarded-For', `203.0.113.${p * 8 + i}, ${realIp}`).type('form').send({ _csrf: csrfOf(page.text), code: 'ABCDEFGH', last4: '1234' });
        if (res.status === 429) refused++;
      }
    }
    expect(refused).toBe(2);
  });

  it('When wrong QR tokens are scanned ten times, then the openid is locked out of scanning too', async () => {
    const agent = await phone('oBindQrGuesser', freshIp());
    for (let i = 0; i < 10; i++) expect((await agent.get(`/h5/bind?t=${'A'.repeat(42)}${i}`)).text).toContain('二维码已失效或已使用');
    const cert = await knownCertificate();
    const { qrToken } = await codes().issue(cert.id, { sandbox: false });
    const locked = await agent.get(`/h5/bind?t=${qrToken}`);
    expect(locked.status).toBe(429);
    expect(errorOf(locked.text)).toBe('尝试次数过多，请 15 分钟后再试');
  });

  it('When a code is older than 10 minutes, then it is refused as expired; when used, then another phone is told so', async () => {
    const cert = await knownCertificate();
    const { code } = await codes().issue(cert.id, { sandbox: false });
    clock.advance(10 * 60_000 + 1000);
    const late = await submit(await phone('oBindLate', freshIp()), { code, last4: cert.mediaSerial!.slice(-4) });
    expect(errorOf(late.text)).toBe('绑定码已过期，请在电脑上重新获取');

    const fresh = await codes().issue(cert.id, { sandbox: false });
    expect(errorOf((await submit(await phone('oBindLate', freshIp()), { code, last4: cert.mediaSerial!.slice(-4) })).text)).toBe('绑定码错误，请核对后重新输入');
    expect((await submit(await phone('oBindFirst', freshIp()), { code: fresh.code, last4: cert.mediaSerial!.slice(-4) })).text).toContain('绑定成功');
    const second = await submit(await phone('oBindSecond', freshIp()), { code: fresh.code, last4: cert.mediaSerial!.slice(-4) });
    expect(errorOf(second.text)).toBe('绑定码已使用，请在电脑上重新获取');
  });

  it('When two phones submit one code at the same moment, then exactly one binding is made', async () => {
    const cert = await knownCertificate();
    const { code } = await codes().issue(cert.id, { sandbox: false });
    const agents = await Promise.all(['oRaceA', 'oRaceB', 'oRaceC'].map((o) => phone(o, freshIp())));
    const pages = await Promise.all(agents.map((a) => a.get('/h5/bind')));
    const results = await Promise.all(agents.map((a, i) => a.post('/h5/bind').type('form').send({ _csrf: csrfOf(pages[i].text), code, last4: cert.mediaSerial!.slice(-4) })));
    expect(results.filter((r) => r.text.includes('绑定成功'))).toHaveLength(1);
    expect(results.filter((r) => errorOf(r.text) === '绑定码已使用，请在电脑上重新获取')).toHaveLength(2);
    expect(await activeBindings(cert.id)).toHaveLength(1);
  });

  it('When the QR code is scanned, then only the last 4 are asked for, and the QR token works once', async () => {
    const cert = await knownCertificate();
    const { qrToken } = await codes().issue(cert.id, { sandbox: false });
    const agent = await phone('oBindScan', freshIp());
    const scan = await agent.get(`/h5/bind?t=${qrToken}`);
    expect(scan.status).toBe(302);
    expect(scan.headers.location).toBe('/h5/bind');
    const page = await agent.get('/h5/bind');
    expect(page.text).toContain('已通过扫码填入');
    const res = await agent.post('/h5/bind').type('form').send({ _csrf: csrfOf(page.text), last4: cert.mediaSerial!.slice(-4).toLowerCase() });
    expect(res.text).toContain('绑定成功');
    const again = await (await phone('oBindScan2', freshIp())).get(`/h5/bind?t=${qrToken}`);
    expect(again.text).toContain('二维码已失效或已使用');
  });

  it('When a handler unbinds and binds again, then the same binding row is reused; a second handler gets a row of their own', async () => {
    const cert = await knownCertificate();
    const agent = await phone('oBindAgain', freshIp());
    expect((await submit(agent, { code: (await codes().issue(cert.id, { sandbox: false })).code, last4: cert.mediaSerial!.slice(-4) })).text).toContain('绑定成功');
    const detail = await agent.get(`/h5/certs/${cert.id}?confirm=unbind`);
    const unbind = await agent.post(`/h5/certs/${cert.id}/unbind`).type('form').send({ _csrf: csrfOf(detail.text) });
    expect(unbind.status).toBe(302);
    expect((await agent.get('/h5/certs')).text).toContain('暂无绑定的证书');
    expect((await submit(agent, { code: (await codes().issue(cert.id, { sandbox: false })).code, last4: cert.mediaSerial!.slice(-4) })).text).toContain('绑定成功');
    const colleague = await phone('oBindColleague', freshIp());
    expect((await submit(colleague, { code: (await codes().issue(cert.id, { sandbox: false })).code, last4: cert.mediaSerial!.slice(-4) })).text).toContain('绑定成功');
    const rows = await activeBindings(cert.id);
    expect(rows.map((r) => [r.openid, r.active]).sort()).toEqual([['oBindAgain', true], ['oBindColleague', true]]);
  });

  it('When another openid asks for or unbinds a certificate not bound to it, then it gets 404 and nothing changes', async () => {
    const cert = await knownCertificate();
    const owner = await phone('oOwner', freshIp());
    expect((await submit(owner, { code: (await codes().issue(cert.id, { sandbox: false })).code, last4: cert.mediaSerial!.slice(-4) })).text).toContain('绑定成功');
    const intruder = await phone('oIntruder', freshIp());
    const look = await intruder.get(`/h5/certs/${cert.id}`).set('Accept', 'text/html');
    expect(look.status).toBe(404);
    expect(look.text).not.toContain(cert.organization!);
    const ownPage = await intruder.get('/h5/bind');
    const unbind = await intruder.post(`/h5/certs/${cert.id}/unbind`).type('form').send({ _csrf: csrfOf(ownPage.text) });
    expect(unbind.status).toBe(404);
    expect((await intruder.get('/h5/certs')).text).not.toContain(cert.organization!);
    expect((await owner.get(`/h5/certs/${cert.id}`)).status).toBe(200);
    expect(await activeBindings(cert.id)).toEqual([expect.objectContaining({ openid: 'oOwner', active: true })]);
  });

  it('When a form is posted without its CSRF token, then it is refused', async () => {
    const agent = await phone('oNoCsrf', freshIp());
    const res = await agent.post('/h5/bind').type('form').send({ code: 'ABCDEFGH', last4: '1234' }).set('Accept', 'text/html');
    expect(res.status).toBe(403);
  });

  it('When a new code is issued for a certificate, then the previous code stops working', async () => {
    const cert = await knownCertificate();
    const first = await codes().issue(cert.id, { sandbox: false });
    await codes().issue(cert.id, { sandbox: false });
    const res = await submit(await phone('oBindOld', freshIp()), { code: first.code, last4: cert.mediaSerial!.slice(-4) });
    expect(errorOf(res.text)).toBe('绑定码错误，请核对后重新输入');
  });
});
