import { type CliIo } from '../../src/cli/bootstrap';
import { certReviews } from '../../src/cli/cert-reviews';
import { CertificateRefusedError, certificateServiceFor } from '../../src/modules/certificates/service';
import { backend } from '../helpers/harness';
import { issueCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

const t = useTestApp({ startJobs: false });

function io(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return { env: { APP_ENV: 'test', SESSION_SECRET: 'test-session-secret-0123456789abcdef', ...t.handle.env }, lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

describe(`certs:reviews (${backend})`, () => {
  it('When a certificate matches no project rule, then the operator sees it in the queue once (seen twice) and can resolve it', async () => {
    const empty = io();
    await certReviews(empty, []);
    expect(empty.lines).toEqual(['No certificates wait for review.']);

    const stranger = await issueCertificate(t.instance.deps.ca, { certType: '设备证书', organization: '梅州市设备单位', mediaSerial: '9000000000007777' });
    const service = certificateServiceFor(t.instance.deps);
    for (let i = 0; i < 2; i++) {
      await expect(service.acceptPresented({ pem: stranger.certificatePem, mediaSerial: '9000000000007777', at: new Date() }))
        .rejects.toMatchObject({ constructor: CertificateRefusedError, reason: 'needs-review' });
    }
    const listed = io();
    await certReviews(listed, []);
    expect(listed.lines[0]).toMatch(/^1 certificate\(s\) wait for a project rule/);
    expect(listed.lines.join('\n')).toContain('seen 2x');
    expect(listed.lines.join('\n')).toContain('梅州市设备单位');
    const id = /^#(\d+)/.exec(listed.lines[1])![1];

    const resolved = io();
    await certReviews(resolved, ['--resolve', id]);
    expect(resolved.lines).toEqual([`Review ${id} resolved.`]);
    await expect(certReviews(io(), ['--resolve', id])).rejects.toThrow(`No pending review with id ${id}.`);
  });
});
