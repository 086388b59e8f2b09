import { type AppConfig } from '../../../src/config';
import { createLogger } from '../../../src/lib/logger';
import { WechatSimulator } from '../../../src/modules/dev-wechat/service';
import { SandboxWechatState } from '../../../src/providers/wechat-api/sandbox-state';

/** The /dev/wechat page shows template messages as a phone would: the template's title and field labels. */
describe('the WeChat simulator conversation', () => {
  const state = new SandboxWechatState('wx1234567890abcdef', 'secret');
  const simulator = new WechatSimulator({ config: { publicBaseUrl: 'http://localhost:3000' } as AppConfig, logger: createLogger('silent') }, state);

  it('When a sandbox template message was sent, then it shows under its title with labelled fields, and an unknown template keeps its raw keys', () => {
    state.outbox.push({ at: 1, openid: 'oSim', kind: 'template', body: { template_id: 'sandbox-tpl-order-paid', data: { character_string1: { value: 'R2026' }, amount2: { value: '200.00元' } } } });
    state.outbox.push({ at: 2, openid: 'oSim', kind: 'template', body: { template_id: 'tpl-somebody-else', data: { keyword1: { value: '<b>x</b>' } } } });
    const [paid, other] = simulator.conversation('oSim').map((e) => e.html);
    expect(paid).toContain('<strong>订单支付成功</strong>');
    expect(paid).toContain('订单号：R2026<br>金额：200.00元');
    expect(other).toContain('<strong>模板消息</strong>');
    expect(other).toContain('keyword1：&lt;b&gt;x&lt;/b&gt;');
  });
});
