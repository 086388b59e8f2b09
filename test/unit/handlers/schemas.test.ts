import { parseHandlerForm, safeNext } from '../../../src/modules/handlers/schemas';
import { addYears } from '../../../src/modules/handlers/service';

const NOW = Date.UTC(2026, 10, 25);

describe('handler form and next', () => {
  it('When the name has spaces or a minority dot typed as •, then it is normalized; a lowercase x is upper-cased', () => {
    expect(parseHandlerForm({ name: ' 张 三 ', idNumber: '11010519491231002x' }, NOW)).toEqual({ ok: true, value: { name: '张三', idNumber: '11010519491231002X' } });
    expect(parseHandlerForm({ name: '阿依古丽•买买提', idNumber: '11010519491231002X' }, NOW)).toMatchObject({ ok: true, value: { name: '阿依古丽·买买提' } });
  });

  it('When the name is one character, has digits or ends with a dot, then it is refused in Chinese', () => {
    for (const name of ['张', '张3', '张·', '<b>']) {
      expect(parseHandlerForm({ name, idNumber: '11010519491231002X' }, NOW)).toEqual({ ok: false, errors: { name: expect.stringContaining('身份证上的姓名') } });
    }
  });

  it('When the ID number is wrong, then the check-digit message comes back', () => {
    expect(parseHandlerForm({ name: '张三', idNumber: '110105194912310021' }, NOW)).toEqual({ ok: false, errors: { idNumber: '身份证号码校验位不正确，请核对是否输错' } });
  });

  it('When next is not one of our H5 pages (or is the handler page itself), then it is dropped', () => {
    expect(safeNext('/h5/renew?cert=3')).toBe('/h5/renew?cert=3');
    for (const bad of ['https://evil.example/', '//evil.example', '/h5//evil.example', '/h5/\\evil', '/h5/%2F%2Fevil', '/h5/handler', '/capc/', undefined, ['/h5/renew']]) {
      expect(safeNext(bad)).toBeUndefined();
    }
  });

  it('When 5 years are added to 29 February, then the date rolls to 1 March (never earlier than 5 years)', () => {
    expect(addYears(new Date('2028-02-29T10:00:00Z'), 5).toISOString()).toBe('2033-03-01T10:00:00.000Z');
  });
});
