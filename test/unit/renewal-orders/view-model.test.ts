import { ValidationError } from '../../../src/lib/errors';
import { parseRenewForm } from '../../../src/modules/renewal-orders/schemas';
import { countdownText, yuan } from '../../../src/modules/renewal-orders/view-model';

describe('续期缴费 page helpers', () => {
  it('When fen are shown, then they read as yuan with two decimals', () => {
    expect([0, 1, 99, 20000, 80000, 123456].map(yuan)).toEqual(['0.00', '0.01', '0.99', '200.00', '800.00', '1234.56']);
  });

  it('When an order is waiting, then the countdown reads in hours and minutes, and null once past', () => {
    const now = new Date('2026-11-26T00:00:00Z');
    const after = (ms: number) => new Date(now.getTime() + ms);
    expect(countdownText(after(2 * 3_600_000), now)).toBe('剩余 2 小时');
    expect(countdownText(after(2 * 3_600_000 - 60_000), now)).toBe('剩余 1 小时 59 分钟');
    // A 对公汇款 order waits 7 days: days from 48 hours on.
    expect(countdownText(after(7 * 86_400_000), now)).toBe('剩余 7 天');
    expect(countdownText(after(48 * 3_600_000 - 60_000), now)).toBe('剩余 47 小时 59 分钟');
    expect(countdownText(after(30_000), now)).toBe('剩余 1 分钟');
    expect(countdownText(after(0), now)).toBeNull();
  });

  it('When the form is read, then each ticked certificate comes with its years, and bad input is refused in Chinese', () => {
    expect(parseRenewForm({ _csrf: 'x', c_12: '1', y_12: '2', c_7: '1', y_7: '5', y_99: '3' })).toEqual([{ certificateId: 12, years: 2 }, { certificateId: 7, years: 5 }]);
    expect(parseRenewForm({ c_3: '1' })).toEqual([{ certificateId: 3, years: 1 }]);
    let empty: unknown;
    try { parseRenewForm({ y_3: '1' }); } catch (err) { empty = err; }
    expect(empty).toBeInstanceOf(ValidationError);
    expect((empty as ValidationError).userMessage).toBe('请选择要续期的证书');
    expect(() => parseRenewForm({ c_3: '1', y_3: '9' })).toThrow(ValidationError);
    expect(() => parseRenewForm({ c_3: '1', y_3: '1.5' })).toThrow(ValidationError);
  });
});
