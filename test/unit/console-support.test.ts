import { boardHtmlForCsp, redactJobData } from '../../src/modules/ops/jobs-board-html';
import { parseRuleForm } from '../../src/modules/orders/price-rule-admin';
import { type ValidationError } from '../../src/lib/errors';

/** The pure parts of the console's support and admin sections: the board's page under the CSP, job data redaction, the price-rule form. */
describe('console support sections (pure)', () => {
  it('When the BullMQ board page is served, then its assets are absolute (base-uri is none), Google Fonts is gone and its inline style carries the nonce', () => {
    const html = '<head><base href="/jobs/board/" /><link rel="alternate icon" type="image/png" href="static/favicon-32x32.png">'
      + '<link href="https://fonts.googleapis.com/css2?family=IBM+Plex+Sans" rel="stylesheet">\n<link href="static/css/main.css" rel="stylesheet"></head>'
      + '<body><style>@keyframes bb-pulse{0%{opacity:.2}}</style><script defer src="static/js/main.js"></script></body>';
    const out = boardHtmlForCsp(html, 'N0NCE');
    expect(out).not.toContain('fonts.googleapis.com');
    expect(out).toContain('href="/jobs/board/static/css/main.css"');
    expect(out).toContain('href="/jobs/board/static/favicon-32x32.png"');
    expect(out).toContain('src="/jobs/board/static/js/main.js"');
    expect(out).toContain('<style nonce="N0NCE">');
  });

  it('When job data is shown on the board, then strings keep only their ends and the shape stays', () => {
    expect(redactJobData({ openid: 'oAbcdefghijklmnop1234', round: 2, nested: { to: ['buyer@example.com'] }, short: 'ok' }))
      .toEqual({ openid: 'oA…1234', round: 2, nested: { to: ['bu….com'] }, short: 'ok' });
  });

  it('When a price rule form is posted, then yuan, years, Beijing time and the tax rate become the rule, and bad values are refused in Chinese', () => {
    expect(parseRuleForm({ project: ' 梅州市住房公积金 ', certType: '机构证书', unitPrice: '200', allowedYears: '3，1、2', effectiveFrom: '2027-01-01T00:00', taxRate: '6%' })).toEqual({
      project: '梅州市住房公积金', certType: '机构证书', unitPriceFen: 20000, allowedYears: '1,2,3', effectiveFrom: '2026-12-31T16:00:00.000Z', effectiveTo: null,
      invoiceItem: '*信息技术服务*数字证书服务费', taxCode: '3040201990000000000', taxRateBp: 600,
    });
    const refusal = (form: Record<string, string>) => {
      try {
        parseRuleForm({ project: 'p', certType: 't', unitPrice: '1', allowedYears: '1', effectiveFrom: '2027-01-01T00:00', ...form });
      } catch (err) {
        return (err as ValidationError).userMessage;
      }
      return 'accepted';
    };
    expect(refusal({ unitPrice: '0' })).toMatch(/单价/);
    expect(refusal({ unitPrice: '1.234' })).toMatch(/单价/);
    expect(refusal({ allowedYears: '6' })).toMatch(/年限/);
    expect(refusal({ effectiveFrom: '明天' })).toMatch(/生效时间/);
    expect(refusal({ taxRate: '100' })).toMatch(/税率/);
    expect(refusal({})).toBe('accepted');
  });
});
