import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTrustStore } from '../../../../src/lib/pki/trust-store';
import { makeCa, makeLeaf } from '../../../helpers/pki';

/** CA_TRUSTED_ROOTS_FILE read from disk (a temporary folder, hence not a unit test). */
const now = new Date();

it('When a PEM bundle file holds roots and intermediates, then loadTrustStore sorts them and adds the CA anchors', async () => {
  const rsaRoot = await makeCa('RSA-2048', 'File Root');
  const issuing = await makeCa('RSA-2048', 'File Issuing', { issuer: rsaRoot });
  const sm2Root = await makeCa('SM2', 'CA Root');
  const dir = mkdtempSync(join(tmpdir(), 'trust-'));
  try {
    const file = join(dir, 'roots.pem');
    writeFileSync(file, `# comment\n${rsaRoot.cert.pem}\n${issuing.cert.pem}`);
    const anchors = { roots: [sm2Root.cert.pem], intermediates: [] };
    const store = await loadTrustStore({ anchors, trustedRootsFile: file });
    expect(store.roots.map((c) => c.subject.commonName).sort()).toEqual(['CA Root', 'File Root']);
    expect(store.intermediates.map((c) => c.subject.commonName)).toEqual(['File Issuing']);
    const { cert: leaf } = await makeLeaf(issuing, 'ECDSA-P256');
    expect(store.verify(leaf, now).ok).toBe(true);
    await expect(loadTrustStore({ anchors, trustedRootsFile: join(dir, 'missing.pem') })).rejects.toThrow(/CA_TRUSTED_ROOTS_FILE: cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
