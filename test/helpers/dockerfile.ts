import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix } from 'node:path';

/**
 * Builds the production image's file layout without a Docker engine, by reading the Dockerfile: every stage gets
 * a folder standing for its root file system; COPY copies from the build context (the repo) or an earlier stage;
 * RUN runs its commands in the stage's WORKDIR. What cannot run here is emulated or refused, never guessed:
 * - `apt-get …` (and clearing apt's lists) is skipped: this machine brings its own toolchain;
 * - `npm ci` links the repo's node_modules (the tree `npm ci` built from the same package-lock.json) and prunes it
 *   with the same flags;
 * - `npm run <script>`, `npm prune …` and `rm -rf <relative paths>` run as written;
 * - anything else stops the emulation, so a new Dockerfile step is taught to this helper rather than ignored.
 */

export interface EmulatedImage {
  /** The final stage's WORKDIR, on this machine. */
  appDir: string;
  /** ENV of the final stage. */
  env: Record<string, string>;
  /** CMD (exec form) of the final stage. */
  cmd: string[];
  /** HEALTHCHECK's CMD (shell form), if any. */
  healthcheck?: string;
  /** The Node major of the final stage's base image (node:<major>-…). */
  nodeMajor: number;
  /** The final stage's COPY lines, as written (for messages). */
  copies: string[];
}

interface Instruction { op: string; args: string }

/** Instructions with comments dropped and `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = pending + line;
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    out.push({ op: m[1].toUpperCase(), args: m[2].trim() });
  }
  return out;
}

function splitFlags(args: string): { flags: Record<string, string>; rest: string[] } {
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  for (const word of args.split(/\s+/)) {
    const flag = /^--([a-z-]+)=(.*)$/.exec(word);
    if (flag && rest.length === 0) flags[flag[1]] = flag[2];
    else rest.push(word);
  }
  return { flags, rest };
}

function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of args.split(/\s+/)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`ENV ${args}: only the KEY=value form is emulated`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/**
 * `cp -a` as COPY does it: a folder's contents into the destination folder, a file to the destination path.
 * `link`: hard links instead of copies (between stages, which are this emulation's own temp folders).
 */
function copy(from: string, to: string, intoFolder: boolean, link = false): void {
  if (!existsSync(from)) throw new Error(`COPY source ${from} does not exist`);
  if (statSync(from).isDirectory()) {
    mkdirSync(to, { recursive: true });
    execFileSync('cp', [link ? '-al' : '-a', `${realpathSync(from)}/.`, `${to}/`]);
  } else {
    const target = intoFolder ? join(to, posix.basename(from)) : to;
    mkdirSync(intoFolder ? to : join(target, '..'), { recursive: true });
    execFileSync('cp', ['-a', from, target]);
  }
}

function runStep(step: string, cwd: string, context: string, log: string[]): void {
  if (/[;|&`<>]|\$\(/.test(step)) throw new Error(`RUN step \`${step}\` is not emulated: one command per && part, no shell operators`);
  if (/^apt-get\s/.test(step) || /^rm -rf \/var\/lib\/apt\/lists\/\*?$/.test(step)) {
    log.push(`skipped (system packages): ${step}`);
    return;
  }
  if (/^npm ci(\s|$)/.test(step)) {
    // The same lock file, installed by `npm ci` in this checkout (CI runs it first): that tree, hard-linked
    // (seconds instead of copying 300 MB). npm rewrites only its hidden lock file in place: that one is unlinked
    // first, and linkedFilesWritten() checks afterwards that nothing else was written through a link.
    const from = realpathSync(join(context, 'node_modules'));
    try {
      execFileSync('cp', ['-al', from, join(cwd, 'node_modules')], { stdio: 'pipe' });
      rmSync(join(cwd, 'node_modules', '.package-lock.json'), { force: true });
    } catch {
      rmSync(join(cwd, 'node_modules'), { recursive: true, force: true });
      copy(from, join(cwd, 'node_modules'), false); // another file system: a real copy
    }
    // Then as `npm ci <flags>` would leave it: nothing the lock file lacks, nothing its flags omit (--omit=dev…).
    const started = Date.now();
    execFileSync('sh', ['-c', step.replace(/^npm ci/, 'npm prune')], { cwd, stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } });
    log.push(`emulated with the checkout's node_modules and npm prune (${Date.now() - started} ms): ${step}`);
    return;
  }
  const rmRelative = /^rm -rf((?:\s+[A-Za-z0-9_.@][^\s]*)+)$/.exec(step);
  if (/^npm (run \S+|prune)(\s|$)/.test(step) || (rmRelative && !rmRelative[1].split(/\s+/).some((p) => p.includes('..')))) {
    const started = Date.now();
    execFileSync('sh', ['-c', step], { cwd, stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } });
    log.push(`ran in ${Date.now() - started} ms: ${step}`);
    return;
  }
  throw new Error(`RUN step \`${step}\` is not emulated: teach test/helpers/dockerfile.ts what it does`);
}

/**
 * Emulates `docker build` of `dockerfile` with `context` as the build context, into `outDir`. Returns the final
 * stage; `log` collects what each RUN step did (and how long it took).
 */
export function emulateImage(dockerfile: string, context: string, outDir: string, log: string[] = []): EmulatedImage {
  const stages = new Map<string, string>();
  let root = '';
  let workdir = '/';
  let env: Record<string, string> = {};
  let cmd: string[] = [];
  let healthcheck: string | undefined;
  let nodeMajor = 0;
  let copies: string[] = [];
  const inStage = (path: string) => join(root, posix.resolve(workdir, path));
  for (const { op, args } of parseDockerfile(readFileSync(dockerfile, 'utf8'))) {
    switch (op) {
      case 'FROM': {
        const m = /^node:(\d+)[-.\w]*(?:\s+AS\s+(\S+))?$/i.exec(args);
        if (!m) throw new Error(`FROM ${args}: only node:<major>… bases are emulated`);
        nodeMajor = Number(m[1]);
        root = join(outDir, m[2] ?? `stage${stages.size}`);
        if (m[2]) stages.set(m[2], root);
        mkdirSync(root, { recursive: true });
        workdir = '/';
        env = {};
        cmd = [];
        healthcheck = undefined;
        copies = [];
        break;
      }
      case 'WORKDIR':
        workdir = posix.resolve(workdir, args);
        mkdirSync(inStage('.'), { recursive: true });
        break;
      case 'ENV':
        Object.assign(env, parseEnv(args));
        break;
      case 'COPY': {
        const { flags, rest } = splitFlags(args);
        const dest = rest.pop()!;
        const base = flags.from === undefined ? context : stages.get(flags.from);
        if (base === undefined) throw new Error(`COPY --from=${flags.from}: no such stage`);
        for (const src of rest) {
          const from = flags.from === undefined ? join(base, src) : join(base, isAbsolute(src) ? src : posix.resolve('/', src));
          copy(from, inStage(dest), dest.endsWith('/') || rest.length > 1, flags.from !== undefined);
        }
        copies.push(`COPY ${args}`);
        break;
      }
      case 'RUN':
        for (const step of args.split('&&').map((s) => s.trim())) runStep(step, inStage('.'), context, log);
        break;
      case 'CMD':
        cmd = JSON.parse(args) as string[];
        break;
      case 'HEALTHCHECK': {
        const m = /\bCMD\s+(.*)$/.exec(args);
        healthcheck = m?.[1];
        break;
      }
      case 'USER': case 'EXPOSE': case 'LABEL':
        break; // no file system effect (the test runs as its own user)
      default:
        throw new Error(`${op} is not emulated: teach test/helpers/dockerfile.ts what it does`);
    }
  }
  if (!cmd.length) throw new Error('the final stage has no CMD');
  return { appDir: inStage('.'), env, cmd, healthcheck, nodeMajor, copies };
}

/**
 * Files of the checkout's node_modules that the emulated layout links to (they have another name) and that were
 * modified after `since`: must be none, or the emulation wrote into the checkout through a hard link.
 */
export function linkedFilesWritten(context: string, since: Date): string[] {
  const dir = realpathSync(join(context, 'node_modules'));
  const out = execFileSync('find', [dir, '-type', 'f', '-links', '+1', '-newermt', since.toISOString()], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

/**
 * The official Node build of `major` for this platform, from the npm registry's node-<platform>-<arch> package
 * (the same binaries as nodejs.org's), kept in the temp folder between runs.
 */
export function nodeBinary(major: number): string {
  if (process.versions.node.split('.')[0] === String(major)) return process.execPath;
  const pkg = `node-${process.platform}-${process.arch}`;
  const prefix = join(tmpdir(), `cam-node-${major}`);
  const bin = join(prefix, 'node_modules', pkg, 'bin', 'node');
  const version = () => { try { return execFileSync(bin, ['-v'], { encoding: 'utf8' }).trim(); } catch { return ''; } };
  if (!version().startsWith(`v${major}.`)) {
    execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, `${pkg}@${major}`], { stdio: 'pipe' });
  }
  if (!version().startsWith(`v${major}.`)) throw new Error(`could not install Node ${major} (${pkg}) into ${prefix}`);
  return bin;
}
