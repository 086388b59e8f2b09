import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real PKCS#11 tokens for tests: a private SoftHSM2 configuration and token folder per test file.
 * SOFTHSM2_CONF is read by the module at C_Initialize from the real environment. Jest gives each test file a
 * copy of process.env that native code never sees, so run the agent as a child process with `hsm.env`
 * (createSoftHsm also sets process.env for code running outside jest).
 */
export const SOFTHSM_MODULE = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/local/lib/softhsm/libsofthsm2.so'].find((p) => existsSync(p));

export const softHsmAvailable = (() => {
  if (!SOFTHSM_MODULE) return false;
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * `describe` when SoftHSM2 is installed, `describe.skip` otherwise; in CI (which installs it) a missing
 * SoftHSM2 fails instead of quietly skipping the PKCS#11 tests.
 */
export function describeWithSoftHsm(name: string, body: () => void): void {
  if (!softHsmAvailable && process.env.CI) throw new Error('SoftHSM2 is not installed (apt-get install softhsm2): the PKCS#11 tests cannot run');
  (softHsmAvailable ? describe : describe.skip)(name, body);
}

export interface SoftHsmToken {
  label: string;
  pin: string;
  soPin: string;
  /** The token serial (what the agent reports as mediaSerial). */
  serial: string;
}

export interface SoftHsm {
  modulePath: string;
  conf: string;
  /** What a process needs to see these tokens: { SOFTHSM2_CONF }. */
  env: { SOFTHSM2_CONF: string };
  tokens: SoftHsmToken[];
  cleanup(): void;
}

export function createSoftHsm(tokens: Array<{ label: string; pin: string; soPin?: string }>): SoftHsm {
  if (!SOFTHSM_MODULE) throw new Error('SoftHSM2 module not found');
  const dir = mkdtempSync(join(tmpdir(), 'softhsm-'));
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env.SOFTHSM2_CONF = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const made: SoftHsmToken[] = [];
  for (const t of tokens) {
    const soPin = t.soPin ?? '87654321';
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', t.label, '--pin', t.pin, '--so-pin', soPin], { env, stdio: 'pipe' });
    made.push({ label: t.label, pin: t.pin, soPin, serial: serialOf(t.label, env) });
  }
  return { modulePath: SOFTHSM_MODULE, conf, env: { SOFTHSM2_CONF: conf }, tokens: made, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads a token's serial from `softhsm2-util --show-slots` (blocks of "Label:" and "Serial number:"). */
function serialOf(label: string, env: NodeJS.ProcessEnv): string {
  const out = execFileSync('softhsm2-util', ['--show-slots'], { env, encoding: 'utf8' });
  for (const block of out.split(/^Slot /m)) {
    const l = /^\s*Label:\s*(.*?)\s*$/m.exec(block)?.[1];
    const s = /^\s*Serial number:\s*(\S+)\s*$/m.exec(block)?.[1];
    if (l === label && s) return s;
  }
  throw new Error(`softhsm2-util does not list a token labelled ${label}`);
}
