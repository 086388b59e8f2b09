/**
 * The custom menu: WeChat's limits (checked by the sandbox exactly as WeChat answers, and by the CLI before it
 * spends a call) and the template in config/menu.json turned into the body of menu/create.
 */
export interface MenuButton {
  name: string;
  type?: string;
  key?: string;
  url?: string;
  sub_button?: MenuButton[];
}

export interface MenuError {
  errcode: number;
  errmsg: string;
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks one clickable button; `sub` selects WeChat's sub-menu errcodes and name limit. */
function checkLeaf(button: Record<string, unknown>, sub: boolean): MenuError | null {
  const codes = sub ? { type: 40024, key: 40026, url: 40027 } : { type: 40017, key: 40019, url: 40020 };
  if (button.type === 'click') {
    if (typeof button.key !== 'string' || bytes(button.key) < 1 || bytes(button.key) > 128) return { errcode: codes.key, errmsg: `invalid ${sub ? 'sub ' : ''}button key size` };
    return null;
  }
  if (button.type === 'view') {
    const url = button.url;
    if (typeof url !== 'string' || bytes(url) > 1024 || !/^https?:\/\//.test(url)) return { errcode: codes.url, errmsg: `invalid ${sub ? 'sub ' : ''}button url size` };
    return null;
  }
  return { errcode: codes.type, errmsg: `invalid ${sub ? 'sub ' : ''}button type` };
}

/**
 * WeChat's menu rules: 1–3 top buttons, each either clickable or holding 1–5 sub buttons; names up to 16 bytes
 * on top and 60 below (4 and 20 Chinese characters); click needs a key (≤128 bytes), view an http(s) url (≤1024).
 * Only click and view are used here, so other types are refused rather than half-checked.
 */
export function validateMenu(menu: unknown): MenuError | null {
  if (!isObject(menu) || !Array.isArray(menu.button)) return { errcode: 47001, errmsg: 'data format error: button array missing' };
  if (menu.button.length < 1 || menu.button.length > 3) return { errcode: 40016, errmsg: 'invalid button size' };
  for (const button of menu.button) {
    if (!isObject(button)) return { errcode: 47001, errmsg: 'data format error: button is not an object' };
    if (typeof button.name !== 'string' || bytes(button.name) < 1 || bytes(button.name) > 16) return { errcode: 40018, errmsg: 'invalid button name size' };
    const subs = button.sub_button;
    if (Array.isArray(subs) && subs.length > 0) {
      if (subs.length > 5) return { errcode: 40023, errmsg: 'invalid sub button size' };
      for (const sub of subs) {
        if (!isObject(sub)) return { errcode: 47001, errmsg: 'data format error: sub button is not an object' };
        if (typeof sub.name !== 'string' || bytes(sub.name) < 1 || bytes(sub.name) > 60) return { errcode: 40025, errmsg: 'invalid sub button name size' };
        const problem = checkLeaf(sub, true);
        if (problem) return problem;
      }
      continue;
    }
    const problem = checkLeaf(button, false);
    if (problem) return problem;
  }
  return null;
}

export interface MenuVars {
  publicBaseUrl: string;
}

/**
 * Turns config/menu.json into the menu/create body: `{{PUBLIC_BASE_URL}}` is substituted and keys starting
 * with `_` (comments) are dropped. The H5 links go through /oauth/login?next=…, which binds the OAuth `state`
 * to the browser's session before redirecting to WeChat; a bare authorize link in the menu could not.
 */
export function renderMenu(template: unknown, vars: MenuVars): unknown {
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') return value.split('{{PUBLIC_BASE_URL}}').join(vars.publicBaseUrl);
    if (Array.isArray(value)) return value.map(walk);
    if (!isObject(value)) return value;
    return Object.fromEntries(Object.entries(value).filter(([k]) => !k.startsWith('_')).map(([k, v]) => [k, walk(v)]));
  };
  return walk(template);
}
