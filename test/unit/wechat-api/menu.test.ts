import menuTemplate from '../../../config/menu.json';
import { renderMenu, validateMenu } from '../../../src/providers/wechat-api/menu';

const view = (name: string, url = 'https://ca.example.com/h5/') => ({ type: 'view', name, url });

describe('validateMenu', () => {
  test('When the configured menu is rendered, then it passes and points at the H5 pages through OAuth', () => {
    const menu = renderMenu(menuTemplate, { publicBaseUrl: 'https://ca.example.com' });
    expect(validateMenu(menu)).toBeNull();
    expect(menu).toEqual({
      button: [{
        name: '客户服务',
        sub_button: [
          view('数安CA管家', 'https://ca.example.com/oauth/login?next=/h5/'),
          view('我的数字证书', 'https://ca.example.com/oauth/login?next=/h5/certs'),
          view('我的发票', 'https://ca.example.com/oauth/login?next=/h5/invoices'),
        ],
      }],
    });
  });

  test.each([
    [47001, 'no button array', {}],
    [40016, 'no buttons', { button: [] }],
    [40016, 'four buttons', { button: [1, 2, 3, 4].map((i) => view(`b${i}`)) }],
    [40018, 'a top name over 16 bytes', { button: [view('我的数字证书')] }],
    [40017, 'an unknown top type', { button: [{ type: 'scancode_push', name: '扫码', key: 'k' }] }],
    [40019, 'a click without key', { button: [{ type: 'click', name: '点我' }] }],
    [40020, 'a view without http url', { button: [{ type: 'view', name: '链接', url: 'javascript:alert(1)' }] }],
    [40023, 'six sub buttons', { button: [{ name: '更多', sub_button: [1, 2, 3, 4, 5, 6].map((i) => view(`s${i}`)) }] }],
    [40024, 'a sub button of an unknown type', { button: [{ name: '更多', sub_button: [{ type: 'media_id', name: 'x' }] }] }],
    [40025, 'a sub name over 60 bytes', { button: [{ name: '更多', sub_button: [view('长'.repeat(21))] }] }],
    [40026, 'a sub click key over 128 bytes', { button: [{ name: '更多', sub_button: [{ type: 'click', name: 'k', key: 'k'.repeat(129) }] }] }],
    [40027, 'a sub view url over 1024 bytes', { button: [{ name: '更多', sub_button: [view('u', `https://a/${'x'.repeat(1024)}`)] }] }],
  ])('When the menu breaks a rule, then WeChat\'s errcode %i comes back (%s)', (errcode, _label, menu) => {
    expect(validateMenu(menu)?.errcode).toBe(errcode);
  });

  test('When a top button holds sub buttons and another is a click, then the menu is valid', () => {
    expect(validateMenu({ button: [{ name: '服务', sub_button: [view('子菜单二十字以内')] }, { type: 'click', name: '联系我们', key: 'CONTACT' }] })).toBeNull();
  });
});

describe('renderMenu', () => {
  test('When the template has comments and placeholders, then comments go and every placeholder is replaced', () => {
    expect(renderMenu({ _comment: 'x', button: [{ url: '{{PUBLIC_BASE_URL}}/a?b={{PUBLIC_BASE_URL}}', _note: 1 }] }, { publicBaseUrl: 'https://h' }))
      .toEqual({ button: [{ url: 'https://h/a?b=https://h' }] });
  });
});
