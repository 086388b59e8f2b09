import { OrderService } from '../../src/modules/orders/service';
import { TransferService } from '../../src/modules/transfers/service';
import { type Agent, loginAs } from '../helpers/h5-login';
import { verifyHandler } from '../helpers/handlers';
import { backend } from '../helpers/harness';
import { boundCertificate } from '../helpers/pki-fixtures';
import { useTestApp } from '../helpers/use-test-app';

/**
 * The order page of an order paid by 对公汇款: once chosen, it shows the code and the payee (not the choice again),
 * and a transfer that was turned down (汇款未通过) with its reason and what to do next; switching to 微信支付 is a
 * button of its own.
 */
const DAY = 86_400_000;
let seq = 0;
const t = useTestApp({ wechat: true, env: { TRUST_PROXY: 'true' } });

async function order(openid: string, opts: { transfer: boolean }) {
  const now = Date.now();
  await verifyHandler(t.instance.deps, openid, { at: new Date(now) });
  const organization = `梅州市汇款页面测试单位${++seq}有限公司`;
  const cert = await boundCertificate(t.instance.deps, openid, { organization, notBefore: new Date(now - 300 * DAY), notAfter: new Date(now + 30 * DAY) });
  const created = await new OrderService(t.instance.deps).createOrder({ openid, items: [{ certificateId: cert.id, years: 1 }], at: new Date(now) });
  const code = opts.transfer ? (await new TransferService(t.instance.deps).codeFor(created.orderNo, openid, new Date(now))).code : '';
  return { orderNo: created.orderNo, totalFen: created.totalFen, code, organization };
}

const importLine = (o: { totalFen: number; code: string; organization: string }, line: { amountFen?: number; payerName?: string }) => new TransferService(t.instance.deps).importLines([{
  line: 2, date: '2026-11-25', payerName: line.payerName ?? o.organization, payerAccount: '4400100', payerBank: '建设银行',
  amount: ((line.amountFen ?? o.totalFen) / 100).toFixed(2), remark: o.code, bankSerial: `P${Date.now()}-${++seq}`,
}], 'pages.csv', new Date());

let ipSeq = 0;
const phone = (openid: string): Promise<Agent> => loginAs(t.instance.app, t.sandbox, openid, `10.9.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`);
const payee = () => t.instance.config.transfer;

describe(`the order page of a 对公汇款 order (${backend})`, () => {
  it('When a transfer is turned down for its amount, then the order page shows 汇款未通过 with the reason, the code, the payee and the next step, and no payment choice', async () => {
    const openid = 'oPagesRejected';
    const o = await order(openid, { transfer: true });
    expect((await importLine(o, { amountFen: o.totalFen - 100 }))[0]).toMatchObject({ result: 'exception', reason: 'amount-mismatch' });

    const page = (await (await phone(openid)).get(`/h5/orders/${o.orderNo}`)).text;
    expect(page).toContain('data-transfer-rejected');
    expect(page).toMatch(/汇款未通过[\s\S]*原因：<span data-reason>汇款金额与订单金额不符<\/span>（到账 ¥\d+\.\d{2}）/);
    expect(page).toContain('请按订单金额重新汇款');
    expect(page).toContain(`data-code>${o.code}<`);
    expect(page).toContain(`data-remark>${o.code}<`);
    expect(page).toContain(payee().payeeName);
    expect(page).toContain(`data-payee-account>${payee().payeeAccount}<`);
    expect(page).toContain(`data-copy="${payee().payeeAccount.replace(/ /g, '')}"`);
    // 对公汇款 was chosen: no choice between methods and no "选择后 … 7 天" again; switching is its own button.
    expect(page).not.toContain('选择后付款期限延长至 7 天');
    expect(page).not.toContain('选择支付方式');
    expect(page).not.toContain('data-pay="transfer"');
    expect(page).toMatch(/data-pay="wechat"[^>]*>改用微信支付 ¥/);
  });

  it('When a transfer came from another organisation, then the next step says to pay from the certificate\'s own organisation', async () => {
    const openid = 'oPagesWrongPayer';
    const o = await order(openid, { transfer: true });
    expect((await importLine(o, { payerName: '梅州市别的单位有限公司' }))[0]).toMatchObject({ reason: 'name-mismatch' });
    const page = (await (await phone(openid)).get(`/h5/orders/${o.orderNo}`)).text;
    expect(page).toContain('付款单位与证书单位不符');
    expect(page).toContain('请由证书所属单位的对公账户重新汇款');
  });

  it('When 对公汇款 was chosen and nothing was turned down, then the page shows the code and payee without a rejection or the 7-day choice text', async () => {
    const openid = 'oPagesChosen';
    const o = await order(openid, { transfer: true });
    const page = (await (await phone(openid)).get(`/h5/orders/${o.orderNo}`)).text;
    expect(page).toContain(`data-code>${o.code}<`);
    expect(page).not.toContain('data-transfer-rejected');
    expect(page).not.toContain('选择后付款期限延长至 7 天');
  });

  it('When no payment method was chosen yet, then the page still offers both methods with the 7-day note', async () => {
    const openid = 'oPagesUnchosen';
    const o = await order(openid, { transfer: false });
    const page = (await (await phone(openid)).get(`/h5/orders/${o.orderNo}`)).text;
    expect(page).toContain('选择支付方式');
    expect(page).toContain('data-pay="transfer"');
    expect(page).toContain('选择后付款期限延长至 7 天');
    expect(page).not.toContain('data-transfer-rejected');
  });
});
