import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { renderMenu, validateMenu, type MenuButton } from '../providers/wechat-api/menu';
import { CliError, type CliIo, runCli, withWechatApi } from './bootstrap';

const USAGE = 'usage: npm run wechat:menu -- [--file config/menu.json] [--dry-run]';

/**
 * `npm run wechat:menu`: publishes config/menu.json as the account's custom menu. The menu is checked against
 * WeChat's limits first, so a mistake is explained here rather than by an errcode.
 */
export async function wechatMenu(io: CliIo, argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { file: { type: 'string' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help) return io.out(USAGE);
  const file = resolve(values.file ?? 'config/menu.json');
  let template: unknown;
  try {
    template = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`Cannot read the menu from ${file}: ${(err as Error).message}`);
  }

  await withWechatApi(io, async ({ api, config }) => {
    const menu = renderMenu(template, { publicBaseUrl: config.publicBaseUrl }) as { button: MenuButton[] };
    const problem = validateMenu(menu);
    if (problem) throw new CliError(`The menu in ${file} breaks WeChat's rules: ${problem.errmsg} (errcode ${problem.errcode})`);
    if (!config.sandbox && !config.publicBaseUrl.startsWith('https://')) {
      io.err(`Warning: PUBLIC_BASE_URL is ${config.publicBaseUrl}; WeChat users cannot open it. Set PUBLIC_BASE_URL to the public https address.`);
    }
    for (const top of menu.button) {
      io.out(top.name);
      for (const sub of top.sub_button ?? [top]) io.out(`  ${sub.name}  →  ${sub.url ?? `click ${sub.key}`}`);
    }
    if (values['dry-run']) return io.out('Dry run: nothing was sent.');
    await api.createMenu(menu);
    io.out(`Menu published to ${config.sandbox ? 'the sandbox WeChat' : `WeChat (appid ${config.wechat.appId})`}.`);
  });
}

if (require.main === module) runCli(wechatMenu);
