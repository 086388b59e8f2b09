import { wechatTextHtml } from '../../../src/modules/dev-wechat/service';
import { safeTarget } from '../../../src/modules/oauth/service';

describe('safeTarget (where OAuth may send the user back)', () => {
  it.each([
    ['/h5/', '/h5/'],
    ['/h5/certs?tab=valid', '/h5/certs?tab=valid'],
    ['/h5', '/h5'],
    ['https://evil.example/h5/', '/h5/'],
    ['//evil.example/h5/', '/h5/'],
    ['/\\evil.example/h5/', '/h5/'],
    ['/h5/%0d%0aSet-Cookie:x', '/h5/%0d%0aSet-Cookie:x'],
    ['/h5/\r\nSet-Cookie:x', '/h5/'],
    ['/h5/../capc/', '/h5/'],
    ['/h5x/', '/h5/'],
    ['', '/h5/'],
  ])('When the target is %j, then the user is sent to %j', (raw, expected) => {
    expect(safeTarget(raw)).toBe(expected);
  });

  it('When the target is not a string, then the home is used', () => {
    expect(safeTarget(['/h5/a', '/h5/b'])).toBe('/h5/');
    expect(safeTarget(undefined)).toBe('/h5/');
  });
});

describe('wechatTextHtml (the simulator shows replies as WeChat does)', () => {
  it('When a reply has an http link, then it becomes a link and everything else is escaped', () => {
    expect(wechatTextHtml('请<a href="https://x.test/h5/">进入</a>\n<b>x</b>')).toBe('请<a href="https://x.test/h5/" target="_blank" rel="noopener">进入</a><br>&lt;b&gt;x&lt;/b&gt;');
  });

  it('When a link is not http(s), then it stays text', () => {
    expect(wechatTextHtml('<a href="javascript:alert(1)">x</a>')).toBe('&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;');
  });
});
