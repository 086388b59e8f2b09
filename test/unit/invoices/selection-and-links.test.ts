import { cryptoRandom } from '../../../src/lib/clock';
import { LINK_TOKEN, linkTokenHash, newLinkToken } from '../../../src/modules/invoices/links';
import { MAX_ORDERS_PER_INVOICE, ORDER_SELECTION_MESSAGES, parseOrderSelection } from '../../../src/modules/invoices/schemas';

describe('the orders ticked on 待开票', () => {
  it('When one or several order numbers are posted, then they come back once each, in order', () => {
    expect(parseOrderSelection('R2512031234AB')).toEqual({ ok: true, orderNos: ['R2512031234AB'] });
    expect(parseOrderSelection(['R1', 'R2512031234AB', ' R2512031234AB ', 'R2512039999CD'].slice(1))).toEqual({ ok: true, orderNos: ['R2512031234AB', 'R2512039999CD'] });
  });

  it('When nothing, too many or a tampered value is posted, then a Chinese message says what to do', () => {
    expect(parseOrderSelection(undefined)).toEqual({ ok: false, message: ORDER_SELECTION_MESSAGES.none });
    expect(parseOrderSelection([])).toEqual({ ok: false, message: ORDER_SELECTION_MESSAGES.none });
    const many = Array.from({ length: MAX_ORDERS_PER_INVOICE + 1 }, (_, i) => `R25120300${String(i).padStart(4, '0')}`);
    expect(parseOrderSelection(many)).toEqual({ ok: false, message: ORDER_SELECTION_MESSAGES.tooMany });
    expect(parseOrderSelection(["R1' OR 1=1"])).toEqual({ ok: false, message: ORDER_SELECTION_MESSAGES.bad });
  });
});

describe('invoice link tokens', () => {
  it('When tokens are drawn, then each is 32 base64url characters (192 bits), distinct, and looked up only by its SHA-256', () => {
    const tokens = new Set(Array.from({ length: 1000 }, () => newLinkToken(cryptoRandom)));
    expect(tokens.size).toBe(1000);
    for (const token of tokens) expect(token).toMatch(LINK_TOKEN);
    const [first] = tokens;
    expect(linkTokenHash(first!)).toMatch(/^[0-9a-f]{64}$/);
    expect(linkTokenHash(first!)).not.toContain(first!);
  });
});
