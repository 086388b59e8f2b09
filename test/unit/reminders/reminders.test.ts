import { chinaDayStart, dueThreshold } from '../../../src/modules/reminders/due';
import { parseMobile, parseMobileWithConsent } from '../../../src/modules/reminders/mobile';
import { subscribeAnswers } from '../../../src/modules/reminders/webhook-events';
import { subscribeEventXml } from '../../../src/modules/wechat-webhook/outbound-request';
import { parseWechatXml } from '../../../src/modules/wechat-webhook/xml';
import { renderSms } from '../../../src/providers/sms/types';

const DAY = 86_400_000;
/** 2026-12-03 10:00 in Beijing. */
const NOW = Date.UTC(2026, 11, 3, 2, 0);
/** A certificate ending at 23:59 Beijing time `days` China days from NOW. */
const endingIn = (days: number) => Date.UTC(2026, 11, 3 + days, 15, 59);

describe('dueThreshold', () => {
  it('When a certificate is 31, 30, 8, 7, 1 or 0 China days from its end, then the due reminder is none, 30, 30, 7, 1, 1', () => {
    expect([31, 30, 8, 7, 1, 0].map((d) => dueThreshold(endingIn(d), NOW))).toEqual([null, 30, 30, 7, 1, 1]);
  });

  it('When the runs of several days were missed, then only the nearest threshold is due (6 days left: 7, never 30)', () => {
    expect(dueThreshold(endingIn(6), NOW)).toBe(7);
    expect(dueThreshold(endingIn(2), NOW)).toBe(7);
  });

  it('When the certificate already ended, then nothing is due', () => {
    expect(dueThreshold(NOW - 1, NOW)).toBeNull();
  });

  it('When the days are counted, then they are China days: 00:30 Beijing on the last day counts as 0 days left', () => {
    const lastDay = Date.UTC(2026, 11, 9, 16, 30); // 2026-12-10 00:30 Beijing
    expect(dueThreshold(endingIn(7), lastDay)).toBe(1);
    expect(chinaDayStart(NOW, 1).toISOString()).toBe('2026-12-03T16:00:00.000Z');
    expect(endingIn(1) - NOW).toBeLessThan(2 * DAY);
  });
});

describe('reminder mobile', () => {
  it('When a mainland mobile is typed with spaces, dashes or +86, then the 11 digits are kept', () => {
    expect(parseMobile('+86 138-0013-8000')).toEqual({ ok: true, value: '13800138000' });
    expect(parseMobile('8613800138000')).toEqual({ ok: true, value: '13800138000' });
  });

  it('When the number is short, not digits or not a mobile, then the message says so in Chinese', () => {
    expect(parseMobile('1380013800')).toEqual({ ok: false, message: '请输入 11 位手机号码' });
    expect(parseMobile('138abc38000')).toEqual({ ok: false, message: '手机号码只能包含数字' });
    expect(parseMobile('12800138000')).toEqual({ ok: false, message: '手机号码格式不正确，请输入中国大陆手机号' });
  });

  it('When a number comes without the consent box, then it is refused; an empty field is fine', () => {
    expect(parseMobileWithConsent({ mobile: '13800138000' })).toEqual({ ok: false, error: '如需接收到期提醒短信，请勾选同意；不需要请清空手机号' });
    expect(parseMobileWithConsent({ mobile: '13800138000', mobileConsent: 'yes' })).toEqual({ ok: true, mobile: '13800138000' });
    expect(parseMobileWithConsent({ mobile: '  ' })).toEqual({ ok: true, mobile: null });
  });
});

describe('subscribe events', () => {
  it('When a popup event lists one or several templates, then each answer is read', () => {
    const one = parseWechatXml(subscribeEventXml({ toUser: 'gh', fromUser: 'o1', createTime: 1, event: 'subscribe_msg_popup_event', answers: [{ templateId: 'tpl-a', status: 'accept' }] }));
    expect(subscribeAnswers(one, 'SubscribeMsgPopupEvent')).toEqual([{ templateId: 'tpl-a', status: 'accept' }]);
    const two = parseWechatXml(subscribeEventXml({ toUser: 'gh', fromUser: 'o1', createTime: 1, event: 'subscribe_msg_change_event', answers: [{ templateId: 'tpl-a', status: 'reject' }, { templateId: 'tpl-b', status: 'accept' }] }));
    expect(subscribeAnswers(two, 'SubscribeMsgChangeEvent')).toEqual([{ templateId: 'tpl-a', status: 'reject' }, { templateId: 'tpl-b', status: 'accept' }]);
  });
});

describe('SMS texts', () => {
  it('When the paid template is rendered, then it carries the organisation, the date and the PC address', () => {
    expect(renderSms('paid', ['梅州测试单位', '2026-12-31', 'https://cam.example/gdca-page/redirect?busyType=8'])).toBe(
      '您单位梅州测试单位的数字证书将于2026-12-31到期，续期费用已缴纳，请在电脑浏览器打开 https://cam.example/gdca-page/redirect?busyType=8 插入U-KEY完成续期。',
    );
  });
});
