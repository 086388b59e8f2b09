import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliIo } from '../../src/cli/bootstrap';
import { importLegacy } from '../../src/cli/import-legacy';
import { restoreLegacy } from '../../src/cli/restore-legacy';
import { CertificateBindingEntity } from '../../src/modules/binding/entities';
import { BindingRepository } from '../../src/modules/binding/repository';
import { type Certificate } from '../../src/modules/certificates/entities';
import { CertificateRepository } from '../../src/modules/certificates/repository';
import { certificateServiceFor } from '../../src/modules/certificates/service';
import { FollowerEntity } from '../../src/modules/followers/entities';
import { FollowerRepository } from '../../src/modules/followers/repository';
import { LegacyBindingEntity } from '../../src/modules/legacy-bindings/entities';
import { LEGACY_RESTORE_OWED_JOB, RestoreOwedPass } from '../../src/modules/legacy-bindings/owed';
import { LEGACY_NOTICE_JOB, LegacyRestoreService } from '../../src/modules/legacy-bindings/service';
import { createTestBackend, type SandboxWechatServer, startInstance, startSandboxWechat, TEST_WECHAT, type TestBackendHandle, type TestInstance } from '../helpers/harness';
import { issueCertificate } from '../helpers/pki-fixtures';
import { eventXml, now, sendToWebhook, uniqueOpenid } from '../helpers/webhook';

/**
 * Returning users (seed 二) end to end: the operator's import CLI, the signed subscribe event, the restore job
 * asking the sandbox WeChat (over HTTP) for the unionid, the customer-service message WeChat records, the first
 * H5 visit of someone who followed long ago, and the batch command.
 */
let handle: TestBackendHandle;
let sandbox: SandboxWechatServer;
let a: TestInstance;

beforeAll(async () => {
  sandbox = await startSandboxWechat();
  handle = await createTestBackend();
  a = await startInstance(handle, { env: { ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url } });
});
afterAll(async () => {
  await a?.close();
  await handle?.drop();
  await sandbox?.close();
});

function io(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  const env = { APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...handle.env, ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url };
  return { env, lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

let files = 0;
function csv(lines: string[]): string {
  const file = join(handle.dataDir, `legacy-${++files}.csv`);
  writeFileSync(file, `\uFEFFunionid,serial,media_serial\r\n${lines.join('\r\n')}\r\n`);
  return file;
}

let unionids = 0;
/** A WeChat user whose account (as WeChat sees it) has this unionid: the old mini program's user. */
function wechatUser(opts: { following?: boolean } = {}) {
  const openid = uniqueOpenid();
  const user = sandbox.state.ensureUser(openid);
  user.unionid = `oLegacy${process.pid}x${Date.now().toString(36)}x${++unionids}`.padEnd(28, '0');
  if (opts.following) sandbox.state.recordInteraction(openid, 'subscribe');
  return { openid, unionid: user.unionid };
}

let mediaSeq = 0;
/** A certificate issued by the app's built-in CA, recorded as /capc/ records a key it sees for the first time. */
async function certificate(): Promise<Certificate> {
  const mediaSerial = `90${process.pid}${Date.now()}${++mediaSeq}`.slice(-16).padStart(16, '9');
  const { certificatePem } = await issueCertificate(a.deps.ca, { mediaSerial });
  return certificateServiceFor(a.deps).acceptPresented({ pem: certificatePem, mediaSerial, at: new Date() });
}

/** A user following in WeChat: WeChat's own state first, then the signed event it posts to us. */
async function follow(openid: string, createTime = now()) {
  sandbox.state.recordInteraction(openid, 'subscribe');
  const { res } = await sendToWebhook(a.app, eventXml(openid, 'subscribe', { EventKey: '' }, createTime));
  expect(res.status).toBe(200);
}

async function jobsDone(name: string): Promise<number> {
  return (await a.deps.metrics.jobs.get()).values.filter((v) => v.labels.name === name && v.labels.result === 'ok').reduce((n, v) => n + v.value, 0);
}

async function until(check: () => Promise<boolean> | boolean, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const batchgetsNaming = (openid: string) => sandbox.state.callsTo('cgi-bin/user/info/batchget').filter((c) => JSON.stringify(c.request).includes(`"${openid}"`));
const bindingsOf = (openid: string) => a.deps.db.manager.find(CertificateBindingEntity, { where: { openid }, order: { certificateId: 'ASC' } });
const legacyRows = () => a.deps.db.manager.count(LegacyBindingEntity);
const restoreMessages = (openid: string) => sandbox.state.messagesTo(openid).filter((m) => JSON.stringify(m.body).includes('已为您恢复'));

describe('import:legacy', () => {
  it('When a file mixes valid and invalid lines, then the valid ones are stored and the report lists each rejected line with its number and reason', async () => {
    const u = wechatUser();
    const file = csv([
      `${u.unionid},0A:1B:2C:3D,`,
      `${u.unionid},,9000000000004321`,
      'not a unionid,0A1B,',
      `${u.unionid},ZZ,`,
      `${u.unionid},0a1b2c3d,`,
      `${u.unionid},,`,
    ]);
    const report = join(handle.dataDir, 'rejected.csv');
    const before = await legacyRows();
    const cli = io();
    const summary = await importLegacy(cli, [file, '--report', report]);

    expect(summary).toMatchObject({ dataLines: 6, accepted: 2, rejected: 4, inserted: 2, alreadyImported: 0 });
    expect(await legacyRows()).toBe(before + 2);
    expect(cli.lines).toEqual(expect.arrayContaining([
      expect.stringMatching(/^line 4: unionid 格式不正确/),
      'line 5: 证书序列号不是十六进制',
      'line 6: 与第 2 行重复',
      'line 7: 证书序列号和介质编号都为空（至少填一个）',
    ]));
    const written = readFileSync(report, 'utf8');
    expect(written.startsWith('\uFEFFline,reason,content\r\n')).toBe(true);
    expect(written).toContain('6,与第 2 行重复,');
    expect(written.trim().split('\r\n')).toHaveLength(5);
  });

  it('When the same file is imported twice, then the second run adds nothing and counts every entry as already imported', async () => {
    const u = wechatUser();
    const file = csv([`${u.unionid},7f0102,`, `${u.unionid},,9000000000008765`]);
    expect(await importLegacy(io(), [file])).toMatchObject({ inserted: 2, alreadyImported: 0 });
    const after = await legacyRows();
    expect(await importLegacy(io(), [file])).toMatchObject({ inserted: 0, alreadyImported: 2 });
    expect(await legacyRows()).toBe(after);
  });

  it('When the file is not UTF-8, then the command stops with a message saying how to save it', async () => {
    const file = join(handle.dataDir, 'gbk.csv');
    writeFileSync(file, Buffer.from([0x75, 0x6e, 0x69, 0x6f, 0x6e, 0x69, 0x64, 0x2c, 0xbd, 0xe9, 0xd6, 0xca, 0x0a]));
    await expect(importLegacy(io(), [file])).rejects.toThrow(/CSV UTF-8/);
  });

  it('When a follower with a known unionid is in the file, then the import binds their certificates at once', async () => {
    const u = wechatUser({ following: true });
    await follow(u.openid);
    await until(async () => (await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } }))?.unionid === u.unionid, 'unionid stored');
    const cert = await certificate();
    const summary = await importLegacy(io(), [csv([`${u.unionid},${cert.serialHex},`])]);
    expect(summary).toMatchObject({ bindingsCreated: 1, pending: 0 });
    expect(await bindingsOf(u.openid)).toEqual([expect.objectContaining({ certificateId: cert.id, source: 'legacy', active: true, unionid: u.unionid })]);
  });
});

describe('restore on follow', () => {
  it('When a returning user follows, then the owed-restore pass binds every known certificate and WeChat records one customer-service message with the count', async () => {
    const u = wechatUser();
    const [bySerial, byMedia] = [await certificate(), await certificate()];
    await importLegacy(io(), [csv([`${u.unionid},${bySerial.serialHex},`, `${u.unionid},,${byMedia.mediaSerial}`, `${u.unionid},0bad0bad,`])]);

    const started = Date.now();
    await follow(u.openid);
    await until(() => restoreMessages(u.openid).length > 0, 'the restore message');

    expect(restoreMessages(u.openid).map((m) => m.body)).toEqual([{ touser: u.openid, msgtype: 'text', text: { content: '已为您恢复 2 张证书的绑定，可在「我的数字证书」查看' } }]);
    expect(Date.now() - started).toBeLessThan(60_000); // inside the window a follow opens
    expect((await bindingsOf(u.openid)).map((b) => [b.certificateId, b.source, b.active])).toEqual([[bySerial.id, 'legacy', true], [byMedia.id, 'legacy', true]]);
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } })).toMatchObject({ unionid: u.unionid, subscribed: true });
    // Asked once, in a batch (user/info/batchget), and the follower row no longer owes the restore.
    expect(batchgetsNaming(u.openid)).toHaveLength(1);
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } })).toMatchObject({ restoreOwed: false });
    expect(await new LegacyRestoreService(a.deps).noticeFor(u.openid)).toEqual({ restoredCount: 2 });
  });

  it('When the user unfollows and follows again, then no binding is duplicated, an unbound one stays unbound, and no second message claims new ones', async () => {
    const u = wechatUser();
    const [c1, c2] = [await certificate(), await certificate()];
    await importLegacy(io(), [csv([`${u.unionid},${c1.serialHex},`, `${u.unionid},${c2.serialHex},`])]);
    const t0 = now();
    await follow(u.openid, t0);
    await until(() => restoreMessages(u.openid).length === 1, 'the first restore message');
    // The user unbinds one certificate on purpose.
    await new BindingRepository().unbind(a.deps.db.manager, c2.id, u.openid, new Date());

    const done = await jobsDone(LEGACY_RESTORE_OWED_JOB);
    const enqueued = jest.spyOn(a.deps.jobs, 'enqueue');
    await sendToWebhook(a.app, eventXml(u.openid, 'unsubscribe', {}, t0 + 1));
    sandbox.state.recordInteraction(u.openid, 'unsubscribe');
    await follow(u.openid, t0 + 2);
    await until(async () => (await jobsDone(LEGACY_RESTORE_OWED_JOB)) > done, 'the second restore job');
    // The restore job queues the message itself (LEGACY_NOTICE_JOB) before it ends: none was queued this time.
    expect(enqueued.mock.calls.map(([name]) => name)).not.toContain(LEGACY_NOTICE_JOB);
    enqueued.mockRestore();

    expect(restoreMessages(u.openid)).toHaveLength(1);
    expect((await bindingsOf(u.openid)).map((b) => [b.certificateId, b.active])).toEqual([[c1.id, true], [c2.id, false]]);
    expect(await new LegacyRestoreService(a.deps).restoreForOpenid(u.openid, u.unionid)).toBe(0);
  });

  it('When a follower has no legacy bindings, then the job stores the unionid and sends nothing', async () => {
    const u = wechatUser();
    const done = await jobsDone(LEGACY_RESTORE_OWED_JOB);
    await follow(u.openid);
    await until(async () => (await jobsDone(LEGACY_RESTORE_OWED_JOB)) > done, 'the restore job');
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } })).toMatchObject({ unionid: u.unionid });
    expect(sandbox.state.messagesTo(u.openid).filter((m) => m.kind === 'customer_service')).toHaveLength(0);
  });

  it('When the restore job runs before the subscribe has written the follower row, then the row ends with both the unionid and the scene', async () => {
    // The subscribe handler queues the job beside its follower write: nothing orders the two.
    const u = wechatUser({ following: true });
    await new LegacyRestoreService(a.deps).checkAndRestore(u.openid);
    await new FollowerRepository().apply(a.deps.db, u.openid, { kind: 'subscribe', scene: 'poster' }, new Date(), false);
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } })).toMatchObject({ unionid: u.unionid, subscribed: true, firstScene: 'poster', lastScene: 'poster' });
  });
});

describe('owed restores', () => {
  it('When 150 users follow in a burst, then their rows owe the restore, and one pass asks WeChat in two batchgets, binds the returning one and clears every mark', async () => {
    const users = Array.from({ length: 150 }, () => wechatUser());
    const cert = await certificate();
    await importLegacy(io(), [csv([`${users[77].unionid},${cert.serialHex},`])]);
    const before = sandbox.state.callsTo('cgi-bin/user/info/batchget').length;
    const owed = new FollowerRepository();
    const at = new Date();
    // The webhook's own path is tested above; here the marks come straight from the follower upsert, no job yet.
    for (const u of users) sandbox.state.recordInteraction(u.openid, 'subscribe');
    await owed.applyMany(a.deps.db, users.map((u) => ({ openid: u.openid, change: { kind: 'subscribe' as const, scene: null }, at })), false);
    expect(await a.deps.db.manager.count(FollowerEntity, { where: { restoreOwed: true } })).toBeGreaterThanOrEqual(150);

    const outcome = await new RestoreOwedPass(a.deps).run();
    expect(outcome.users).toBeGreaterThanOrEqual(150);
    expect(outcome.created).toBe(1);
    expect(sandbox.state.callsTo('cgi-bin/user/info/batchget').length - before).toBe(2);
    expect((await bindingsOf(users[77].openid)).map((b) => [b.certificateId, b.source])).toEqual([[cert.id, 'legacy']]);
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: users[5].openid } })).toMatchObject({ unionid: users[5].unionid, restoreOwed: false });
    expect(await a.deps.db.manager.count(FollowerEntity, { where: { restoreOwed: true } })).toBe(0);
  });

  it('When a pass is asked for while another instance runs one, then it leaves the work to that one (no second batchget of the same page)', async () => {
    const u = wechatUser({ following: true });
    await new FollowerRepository().apply(a.deps.db, u.openid, { kind: 'subscribe', scene: null }, new Date(), false);
    const before = sandbox.state.callsTo('cgi-bin/user/info/batchget').length;
    // Another instance holds the pass.
    await a.deps.store.set('lock:legacy-owed-pass', 'another-instance', { ttlMs: 60_000 });
    expect(await new RestoreOwedPass(a.deps).runExclusive()).toEqual({ users: 0, created: 0 });
    expect(sandbox.state.callsTo('cgi-bin/user/info/batchget').length).toBe(before);
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } })).toMatchObject({ restoreOwed: true });
    // It ends; the next pass does the work.
    await a.deps.store.del('lock:legacy-owed-pass');
    expect((await new RestoreOwedPass(a.deps).runExclusive()).users).toBeGreaterThanOrEqual(1);
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } })).toMatchObject({ unionid: u.unionid, restoreOwed: false });
  });

  it('When a pass reaches its page limit with follows still owed, then it says so (the job then queues the next) and the next pass finishes them', async () => {
    const users = Array.from({ length: 120 }, () => wechatUser({ following: true }));
    await new FollowerRepository().applyMany(a.deps.db, users.map((u) => ({ openid: u.openid, change: { kind: 'subscribe' as const, scene: null }, at: new Date() })), false);
    const first = await new RestoreOwedPass(a.deps, 1).run();
    expect(first).toMatchObject({ users: 100, more: true });
    expect(await a.deps.db.manager.count(FollowerEntity, { where: { restoreOwed: true } })).toBe(20);
    expect(await new RestoreOwedPass(a.deps, 1).run()).toMatchObject({ users: 20, more: true });
    expect(await new RestoreOwedPass(a.deps, 1).run()).toEqual({ users: 0, created: 0 });
    expect(await a.deps.db.manager.count(FollowerEntity, { where: { restoreOwed: true } })).toBe(0);
  });

  it('When a page names an openid WeChat does not know (40003 for the whole batch), then each is asked alone and the others are still restored', async () => {
    const u = wechatUser({ following: true });
    const cert = await certificate();
    await importLegacy(io(), [csv([`${u.unionid},${cert.serialHex},`])]);
    const stranger = `oStranger${Date.now().toString(36)}`.padEnd(28, 'x');
    const followers = new FollowerRepository();
    await followers.apply(a.deps.db, u.openid, { kind: 'subscribe', scene: null }, new Date(), false);
    await followers.apply(a.deps.db, stranger, { kind: 'subscribe', scene: null }, new Date(), false);

    await new RestoreOwedPass(a.deps).run();
    expect((await bindingsOf(u.openid)).map((b) => b.certificateId)).toEqual([cert.id]);
    expect(sandbox.state.callsTo('cgi-bin/user/info').filter((c) => (c.request as { openid?: string }).openid === u.openid)).toHaveLength(1);
    expect(await a.deps.db.manager.count(FollowerEntity, { where: { restoreOwed: true } })).toBe(0);
    // Not a follower WeChat knows: later tests' batch command must not meet it.
    await followers.apply(a.deps.db, stranger, { kind: 'unsubscribe' }, new Date(), false);
  });
});

describe('restore on the first H5 visit', () => {
  it('When someone who followed long ago (no subscribe event, no follower row) opens the H5 home, then the visit restores and the notice counts it; later visits ask WeChat nothing', async () => {
    const u = wechatUser({ following: true });
    const cert = await certificate();
    await importLegacy(io(), [csv([`${u.unionid},,${cert.mediaSerial}`])]);
    const service = new LegacyRestoreService(a.deps);
    const userInfoCalls = () => sandbox.state.callsTo('cgi-bin/user/info').filter((c) => (c.request as { openid?: string }).openid === u.openid).length;

    expect(await service.noticeFor(u.openid)).toEqual({ restoredCount: 1 });
    expect(await bindingsOf(u.openid)).toEqual([expect.objectContaining({ certificateId: cert.id, source: 'legacy', active: true })]);
    expect(await a.deps.db.manager.findOne(FollowerEntity, { where: { openid: u.openid } })).toMatchObject({ unionid: u.unionid, subscribed: true });
    expect(userInfoCalls()).toBe(1);

    expect(await service.noticeFor(u.openid)).toEqual({ restoredCount: 1 });
    expect(userInfoCalls()).toBe(1);
    // No window is open for a page visit: the notice on the page is the message.
    expect(restoreMessages(u.openid)).toHaveLength(0);
  });

  it('When the OAuth login already carries the unionid, then the visit restores without asking WeChat', async () => {
    const u = wechatUser({ following: true });
    const cert = await certificate();
    await importLegacy(io(), [csv([`${u.unionid},${cert.serialHex},`])]);
    const before = sandbox.state.callsTo('cgi-bin/user/info').length;
    expect(await new LegacyRestoreService(a.deps).noticeFor(u.openid, { unionid: u.unionid })).toEqual({ restoredCount: 1 });
    expect(sandbox.state.callsTo('cgi-bin/user/info')).toHaveLength(before);
  });

  it('When a legacy row names a certificate unknown at the first visit, then it stays pending and the next visit after the certificate is known restores it', async () => {
    const u = wechatUser({ following: true });
    const known = await certificate();
    const later = await certificate();
    // The row names `later` by a media serial no certificate has yet.
    const futureMedia = `F${later.mediaSerial!.slice(1)}`;
    await importLegacy(io(), [csv([`${u.unionid},${known.serialHex},`, `${u.unionid},,${futureMedia}`])]);
    const service = new LegacyRestoreService(a.deps);
    expect(await service.noticeFor(u.openid)).toEqual({ restoredCount: 1 });

    // The holder presents the key at /capc/: the certificate is now known under that media serial.
    await new CertificateRepository().updateMediaSerial(a.deps.db.manager, later.id, futureMedia, new Date());
    expect(await service.noticeFor(u.openid)).toEqual({ restoredCount: 2 });
    expect((await bindingsOf(u.openid)).map((b) => b.certificateId)).toEqual([known.id, later.id]);
  });

  it('When the visitor is a 朋友圈快照页 (snapshot) user, then nothing is restored or shown', async () => {
    const u = wechatUser({ following: true });
    expect(await new LegacyRestoreService(a.deps).noticeFor(u.openid, { isSnapshotUser: true })).toBeNull();
    expect(sandbox.state.callsTo('cgi-bin/user/info').filter((c) => (c.request as { openid?: string }).openid === u.openid)).toHaveLength(0);
  });
});

describe('restore:legacy batch', () => {
  it('When followers recorded before the import have no unionid yet, then the batch asks WeChat for each, restores all, and reports counts', async () => {
    const users = [wechatUser({ following: true }), wechatUser({ following: true }), wechatUser({ following: true })];
    const gone = wechatUser();
    const followers = new FollowerRepository();
    const at = new Date();
    for (const u of [...users, gone]) await followers.apply(a.deps.db, u.openid, { kind: 'subscribe', scene: null }, at, false);
    await followers.apply(a.deps.db, gone.openid, { kind: 'unsubscribe' }, at, false);
    const certs = [await certificate(), await certificate(), await certificate()];
    await importLegacy(io(), [csv(users.map((u, i) => `${u.unionid},${certs[i].serialHex},`))]);

    const cli = io();
    const summary = await restoreLegacy(cli, ['--concurrency', '2']);
    expect(summary).toMatchObject({ failed: 0 });
    expect(summary!.bindingsCreated).toBeGreaterThanOrEqual(3);
    for (const [i, u] of users.entries()) {
      expect(await bindingsOf(u.openid)).toEqual([expect.objectContaining({ certificateId: certs[i].id, source: 'legacy', active: true })]);
    }
    expect(sandbox.state.callsTo('cgi-bin/user/info').filter((c) => (c.request as { openid?: string }).openid === gone.openid)).toHaveLength(0);
    expect(cli.lines.join('\n')).toMatch(/Restored: +\d+ new binding/);

    // A second run finds nothing new.
    expect(await restoreLegacy(io(), [])).toMatchObject({ bindingsCreated: 0 });
  });
});
