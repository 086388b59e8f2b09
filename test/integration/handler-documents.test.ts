import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliIo } from '../../src/cli/bootstrap';
import { handlerDocumentsReview } from '../../src/cli/handler-documents';
import { DocumentAccessEntity, DocumentFileEntity, DocumentSubmissionEntity } from '../../src/modules/handler-documents/entities';
import { HandlerDocumentService } from '../../src/modules/handler-documents/service';
import { VerifiedHandlerEntity } from '../../src/modules/handlers/entities';
import { addYears } from '../../src/modules/handlers/service';
import { type Agent, csrfOf, loginAs } from '../helpers/h5-login';
import { backend, createTestBackend, startSandboxWechat, TEST_WECHAT, type SandboxWechatServer, type TestBackendHandle } from '../helpers/harness';
import sharp from 'sharp';
import { jpegLike, photoJpeg, tinyPng } from '../helpers/images';
import { type ListeningInstance, startListening } from '../helpers/listening';

/**
 * The non-face alternative to handler liveness, over HTTP: the phone (supertest agent logged in through the
 * sandbox WeChat OAuth) uploads multipart forms to the real routes; the operator runs the review command
 * against the same backend; the guard of 续期缴费 reads the resulting verified handler.
 */
let handle: TestBackendHandle;
let sandbox: SandboxWechatServer;
let app: ListeningInstance;
/** Fixed PII keys: the review command opens its own deps and must read what the app sealed. */
const PII = { PII_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}`, PII_HMAC_KEY: randomBytes(32).toString('base64') };
const PERSON = { name: '李四', idNumber: '11010519491231002X', organisation: '梅州市住房公积金管理中心' };
const MARKER = 'PLAINTEXT-MARKER-李四';
let ipSeq = 0;
const phone = (openid: string) => loginAs(app.app, sandbox, openid, `10.9.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`);

/** A real photo with EXIF (GPS) and the marker appended after its end: re-encoding keeps neither. */
let frontPhoto: Buffer;

beforeAll(async () => {
  frontPhoto = await photoJpeg(MARKER);
  handle = await createTestBackend();
  sandbox = await startSandboxWechat();
  app = await startListening(handle, { env: { ...TEST_WECHAT, ...PII, WECHAT_API_BASE: sandbox.url, TRUST_PROXY: 'true' } });
});
afterAll(async () => {
  await app?.close();
  await sandbox?.close();
  await handle?.drop();
});

function cli(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return {
    env: { APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...TEST_WECHAT, WECHAT_API_BASE: sandbox.url, ...PII, ...handle.env },
    lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`),
  };
}
const review = async (argv: string[]) => {
  const io = cli();
  await handlerDocumentsReview(io, ['--reviewer', 'alice', ...argv]);
  return io.lines.join('\n');
};

interface Upload { name: string; data: Buffer; type: string }
const goodFiles = (): Record<string, Upload> => ({
  'id-front': { name: 'front.jpg', data: frontPhoto, type: 'image/jpeg' },
  'id-back': { name: 'back.png', data: tinyPng(20, 12, [200, 30, 30], MARKER), type: 'image/png' },
  authorisation: { name: 'letter.png', data: tinyPng(30, 40, [250, 250, 250], MARKER), type: 'image/png' },
});

/** Posts the documents form as the browser does: `_csrf` first, then the text fields, then the files. */
async function post(agent: Agent, opts: { csrf?: string | null; fields?: Record<string, string>; files?: Record<string, Upload> } = {}) {
  const page = await agent.get('/h5/handler/documents');
  let req = agent.post('/h5/handler/documents');
  const csrf = opts.csrf === undefined ? csrfOf(page.text) : opts.csrf;
  if (csrf !== null) req = req.field('_csrf', csrf);
  for (const [k, v] of Object.entries(opts.fields ?? { ...PERSON, consent: 'agree' })) req = req.field(k, v);
  for (const [k, f] of Object.entries(opts.files ?? goodFiles())) req = req.attach(k, f.data, { filename: f.name, contentType: f.type });
  return req;
}

const db = () => app.deps.db;
const countFor = async (openid: string) => db().getRepository(DocumentSubmissionEntity).count({ where: { openid } });
const stateOf = (html: string) => /data-state="([a-z]+)"/.exec(html)?.[1];

describe(`handler documents: the non-face alternative (${backend})`, () => {
  it('When a handler reads the liveness consent or declines it, then the document alternative is linked, and its page explains collection, purpose, review and retention before the form', async () => {
    const agent = await phone('oDocsLinks');
    const consent = await agent.get('/h5/handler');
    expect(consent.text).toContain('不同意人脸识别，改为上传证件人工审核');
    expect(consent.text).toContain('href="/h5/handler/documents"');
    const declined = await agent.post('/h5/handler/consent').type('form').send({ _csrf: csrfOf(consent.text), decision: 'decline' });
    expect(declined.text).toContain('href="/h5/handler/documents"');
    const page = await agent.get('/h5/handler/documents');
    expect(page.status).toBe(200);
    for (const text of ['我们将收集什么', '为什么需要', '审核人员', '加密存储', '5 年', '180 天', 'enctype="multipart/form-data"', 'name="consent"']) expect(page.text).toContain(text);
    expect(page.headers['cache-control']).toBe('no-store');
  });

  it('When the upload is a non-image named .jpg, too large, without CSRF token, with a wrong ID check digit, without consent or missing a file, then it is refused and nothing is stored', async () => {
    const agent = await phone('oDocsRefused');
    const disguised = await post(agent, { files: { ...goodFiles(), 'id-front': { name: 'front.jpg', data: Buffer.from('<html><script>alert(1)</script></html>'), type: 'image/jpeg' } } });
    expect(disguised.status).toBe(400);
    expect(disguised.text).toContain('身份证人像面不是 JPG 或 PNG 图片');
    expect(disguised.text).toContain('value="李四"');

    const undecodable = await post(agent, { files: { ...goodFiles(), 'id-back': { name: 'back.jpg', data: jpegLike('JFIF header, no picture'), type: 'image/jpeg' } } });
    expect(undecodable.status).toBe(400);
    expect(undecodable.text).toContain('身份证国徽面无法识别，请重新拍照或选择相册中的 JPG、PNG 照片');

    const declaredPdf = await post(agent, { files: { ...goodFiles(), 'id-back': { name: 'back.pdf', data: Buffer.from('%PDF-1.4'), type: 'application/pdf' } } });
    expect(declaredPdf.status).toBe(400);
    expect(declaredPdf.text).toContain('身份证国徽面不是 JPG 或 PNG 图片');

    const big = jpegLike('', 5 * 1024 * 1024 + 1);
    const tooLarge = await post(agent, { files: { ...goodFiles(), authorisation: { name: 'big.jpg', data: big, type: 'image/jpeg' } } });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.text).toContain('超过 5 MB');
    const exactly = await post(agent, { fields: { ...PERSON, idNumber: '110105194912310021', consent: 'agree' }, files: { ...goodFiles(), authorisation: { name: 'max.jpg', data: jpegLike('', 5 * 1024 * 1024), type: 'image/jpeg' } } });
    expect(exactly.status).toBe(400); // 5 MB itself passes the size limit; the bad check digit refuses it
    expect(exactly.text).toContain('身份证号码校验位不正确');

    const noCsrf = await post(agent, { csrf: null });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.text).toContain('页面已过期');
    const wrongCsrf = await post(agent, { csrf: 'x'.repeat(32) });
    expect(wrongCsrf.status).toBe(403);
    const noFilesNoCsrf = await agent.post('/h5/handler/documents').field('name', PERSON.name);
    expect(noFilesNoCsrf.status).toBe(403);
    const urlencoded = await agent.post('/h5/handler/documents').type('form').send({ ...PERSON });
    expect(urlencoded.status).toBe(400);

    const noConsent = await post(agent, { fields: { ...PERSON } });
    expect(noConsent.status).toBe(400);
    expect(noConsent.text).toContain('请阅读说明并勾选同意');
    const { authorisation: _dropped, ...twoFiles } = goodFiles();
    const missing = await post(agent, { files: twoFiles });
    expect(missing.status).toBe(400);
    expect(missing.text).toContain('请上传授权委托书（加盖单位公章）照片');

    expect(await countFor('oDocsRefused')).toBe(0);
    expect(await db().getRepository(DocumentFileEntity).count()).toBe(0);
  });

  it('When valid documents are submitted, then the page shows 审核中, everything is stored sealed (no image marker, name or ID in the database), a second post is not queued, and 续期缴费 still asks for verification', async () => {
    const agent = await phone('oDocsSealed');
    const token = csrfOf((await agent.get('/h5/handler/documents')).text);
    const res = await post(agent);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/h5/handler/documents');
    const page = await agent.get('/h5/handler/documents');
    expect(stateOf(page.text)).toBe('pending');
    expect(page.text).toContain('审核中');
    expect(page.text).toContain('李*');
    expect(page.text).toContain('1****************X');
    expect(page.text).not.toContain(PERSON.idNumber);

    const [row] = await db().query('SELECT * FROM handler_document_submissions WHERE openid = ?', ['oDocsSealed']);
    const raw = JSON.stringify(row);
    for (const secret of [PERSON.name, PERSON.idNumber, PERSON.idNumber.slice(6, 14)]) expect(raw).not.toContain(secret);
    expect(row.organisation).toBe(PERSON.organisation);
    const files = await db().query('SELECT kind, content_type, size, sealed FROM handler_document_files WHERE submission_id = ? ORDER BY kind', [row.id]);
    expect(files.map((f: { kind: string }) => f.kind)).toEqual(['authorisation', 'id-back', 'id-front']);
    const uploads = goodFiles();
    for (const f of files as { kind: string; content_type: string; size: number; sealed: Buffer }[]) {
      const sealed = Buffer.from(f.sealed);
      expect(f.size).toBeGreaterThan(0); // the re-encoded image's size, not the upload's
      expect(f.content_type).toBe(uploads[f.kind]!.type);
      expect(sealed.length).toBeGreaterThan(f.size);
      for (const needle of [Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('PNG'), Buffer.from('IHDR'), Buffer.from(MARKER), Buffer.from('JFIF'), Buffer.from(PERSON.idNumber)]) {
        expect(sealed.includes(needle)).toBe(false);
      }
    }

    const again = await post(agent, { csrf: token });
    expect(again.status).toBe(303);
    expect(await countFor('oDocsSealed')).toBe(1);
    const renew = await agent.get('/h5/renew');
    expect(renew.status).toBe(302);
    expect(renew.headers.location).toMatch(/^\/h5\/handler/);
  });

  it('When the operator lists, shows and approves, then the list is masked, the images come back exactly (audited), the handler is verified by documents and 续期缴费 opens; approving again changes nothing', async () => {
    const agent = await phone('oDocsApproved');
    expect((await post(agent)).status).toBe(303);
    const submission = await db().getRepository(DocumentSubmissionEntity).findOneByOrFail({ openid: 'oDocsApproved' });
    const id = String(submission.id);

    const listed = await review([]);
    expect(listed).toContain(`#${id} `);
    expect(listed).toContain('李*');
    expect(listed).not.toContain(PERSON.idNumber);

    const out = mkdtempSync(join(tmpdir(), 'cam-review-'));
    try {
      const shown = await review(['--show', id, '--out', out]);
      expect(shown).toContain(PERSON.idNumber);
      expect(shown).toContain('Access recorded for operator:alice');
      const written = readdirSync(out).sort();
      expect(written).toEqual([`${id}-authorisation.png`, `${id}-id-back.png`, `${id}-id-front.jpg`]);
      // What was uploaded, re-encoded: the same picture, without its EXIF (GPS) or the bytes appended after it.
      const front = readFileSync(join(out, `${id}-id-front.jpg`));
      const frontMeta = await sharp(front).metadata();
      expect([frontMeta.format, frontMeta.width, frontMeta.height, frontMeta.exif]).toEqual(['jpeg', 24, 16, undefined]);
      expect(front.includes(Buffer.from(MARKER))).toBe(false);
      expect(front.includes(Buffer.from('TestPhoneMaker'))).toBe(false);
      expect(await sharp(readFileSync(join(out, `${id}-id-back.png`))).metadata()).toMatchObject({ format: 'png', width: 20, height: 12 });
      expect(statSync(join(out, `${id}-id-back.png`)).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }

    expect(await review(['--approve', id])).toContain('approved');
    expect(await review(['--approve', id])).toContain('approved already');
    const handler = await db().getRepository(VerifiedHandlerEntity).findOneByOrFail({ openid: 'oDocsApproved' });
    expect(handler).toMatchObject({ method: 'documents', attemptId: submission.id, nameMasked: '李*', idNumberMasked: '1****************X', sandbox: false });
    expect(app.deps.pii.decrypt(handler.idNumberSealed, 'id-number', { actor: 'test', reason: 'assert' })).toBe(PERSON.idNumber);
    expect(handler.purgeAfter.getTime()).toBe(addYears(handler.verifiedAt, 5).getTime());
    const approved = await db().getRepository(DocumentSubmissionEntity).findOneByOrFail({ id: submission.id });
    expect(approved).toMatchObject({ state: 'APPROVED', reviewer: 'operator:alice', pendingKey: null });
    expect(approved.purgeAfter.getTime()).toBe(addYears(approved.reviewedAt!, 5).getTime());
    const accesses = await db().getRepository(DocumentAccessEntity).find({ where: { submissionId: submission.id }, order: { id: 'ASC' } });
    expect(accesses.map((a) => `${a.actor} ${a.action}`)).toEqual(['operator:alice show', 'operator:alice approve']);

    const page = await agent.get('/h5/handler/documents');
    expect(stateOf(page.text)).toBe('approved');
    expect(page.text).toContain('已通过');
    expect((await agent.get('/h5/renew')).status).toBe(200);
    expect((await agent.get('/h5/handler')).text).toContain('已认证');
    await expect(review(['--reject', id, '--reason', '太迟了'])).rejects.toThrow('该材料已通过');
  });

  it('When the operator rejects with a reason, then the page shows 未通过 with the reason and the form again, a corrected submission is accepted, and the fourth of a day is refused', async () => {
    const agent = await phone('oDocsRejected');
    expect((await post(agent)).status).toBe(303);
    const first = await db().getRepository(DocumentSubmissionEntity).findOneByOrFail({ openid: 'oDocsRejected' });
    await expect(review(['--reject', String(first.id)])).rejects.toThrow('--reject needs --reason');
    expect(await review(['--reject', String(first.id), '--reason', '授权委托书未加盖单位公章'])).toContain('rejected');
    expect(await review(['--reject', String(first.id), '--reason', '授权委托书未加盖单位公章'])).toContain('rejected already');
    const page = await agent.get('/h5/handler/documents');
    expect(page.text).toContain('未通过：授权委托书未加盖单位公章');
    expect(page.text).toContain('提交人工审核');
    const rejected = await db().getRepository(DocumentSubmissionEntity).findOneByOrFail({ id: first.id });
    expect(rejected.purgeAfter.getTime()).toBe(rejected.reviewedAt!.getTime() + 180 * 86_400_000);
    await expect(review(['--approve', String(first.id)])).rejects.toThrow('该材料已驳回');
    expect((await agent.get('/h5/renew')).status).toBe(302);

    const service = new HandlerDocumentService(app.deps);
    for (let i = 2; i <= 3; i++) {
      expect((await post(agent)).status).toBe(303);
      const latest = await service.latestOf('oDocsRejected');
      await service.reject(latest!.id, 'bob', `第 ${i} 次材料不清晰`);
    }
    const fourth = await post(agent);
    expect(fourth.status).toBe(429);
    expect(fourth.text).toContain('今日提交次数已达上限（3 次）');
    expect(await countFor('oDocsRejected')).toBe(3);
  });

  it('When the purge runs past purge_after, then expired submissions go with their files and access trail, and nothing younger is touched', async () => {
    const agent = await phone('oDocsPurged');
    expect((await post(agent)).status).toBe(303);
    const service = new HandlerDocumentService(app.deps);
    const target = (await service.latestOf('oDocsPurged'))!;
    await service.reject(target.id, 'carol', '照片模糊');
    const rejected = await db().getRepository(DocumentSubmissionEntity).findOneByOrFail({ id: target.id });

    await service.purgeExpired(new Date(rejected.purgeAfter.getTime() - 1));
    expect(await db().getRepository(DocumentSubmissionEntity).findOneBy({ id: target.id })).not.toBeNull();
    expect(await db().getRepository(DocumentFileEntity).count({ where: { submissionId: target.id } })).toBe(3);
    const files = await db().getRepository(DocumentFileEntity).count();
    const submissions = await db().getRepository(DocumentSubmissionEntity).count();

    const result = await service.purgeExpired(rejected.purgeAfter);
    expect(result.submissions).toBeGreaterThanOrEqual(1);
    expect(result.files).toBe(result.submissions * 3);
    expect(await db().getRepository(DocumentSubmissionEntity).findOneBy({ id: target.id })).toBeNull();
    expect(await db().getRepository(DocumentFileEntity).count({ where: { submissionId: target.id } })).toBe(0);
    expect(await db().getRepository(DocumentAccessEntity).count({ where: { submissionId: target.id } })).toBe(0);
    expect(await db().getRepository(DocumentFileEntity).count()).toBe(files - result.files);
    expect(await db().getRepository(DocumentSubmissionEntity).count()).toBe(submissions - result.submissions);
    // Approved submissions (earlier in this file) live 5 years: untouched.
    expect(await db().getRepository(DocumentSubmissionEntity).count({ where: { state: 'APPROVED' } })).toBeGreaterThanOrEqual(1);
    expect((await agent.get('/h5/handler/documents')).text).toContain('提交人工审核');
  });
});
