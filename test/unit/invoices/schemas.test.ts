import { INVOICE_FORM_MESSAGES as M, titleDiffersFromOrganisation, validateInvoiceForm } from '../../../src/modules/invoices/schemas';

const organisation = {
  buyerKind: 'organisation',
  title: '深圳市腾讯计算机系统有限公司',
  taxId: '91440300708461136T',
  bankName: '招商银行深圳分行',
  bankAccount: '7559 0123 4567 8901',
  address: '深圳市南山区高新区科技中一路腾讯大厦',
  phone: '0755-86013388',
  email: 'finance@example.com',
  mobile: '13800138000',
};

function errorsOf(change: Record<string, unknown>) {
  const result = validateInvoiceForm({ ...organisation, ...change });
  if (result.ok) throw new Error('expected the form to be refused');
  return result.errors;
}

describe('invoice form', () => {
  it('When every field is well filled, then the form is accepted and normalised', () => {
    const result = validateInvoiceForm({ ...organisation, taxId: ' 91440300708461136t ', title: ' 深圳市腾讯计算机系统有限公司 ' });
    expect(result).toEqual({
      ok: true,
      form: { ...organisation, title: '深圳市腾讯计算机系统有限公司', taxId: '91440300708461136T', bankAccount: '7559012345678901' },
    });
  });

  it('When only the required fields of an organisation are filled, then the optional ones are absent, not empty', () => {
    const result = validateInvoiceForm({ buyerKind: 'organisation', title: '某公司', taxId: '914403001922038216', email: 'a@b.cn', bankName: '', bankAccount: '', address: '', phone: '', mobile: '' });
    expect(result).toEqual({ ok: true, form: { buyerKind: 'organisation', title: '某公司', taxId: '914403001922038216', email: 'a@b.cn' } });
  });

  it('When an individual leaves the tax ID empty, then the form is accepted', () => {
    const result = validateInvoiceForm({ buyerKind: 'individual', title: '张三', taxId: '', email: 'zhang@example.com' });
    expect(result).toEqual({ ok: true, form: { buyerKind: 'individual', title: '张三', email: 'zhang@example.com' } });
  });

  it('When an individual types a wrong tax ID anyway, then it is checked', () => {
    const result = validateInvoiceForm({ buyerKind: 'individual', title: '张三', taxId: '12345', email: 'zhang@example.com' });
    expect(result.ok ? {} : result.errors).toEqual({ taxId: M.taxIdFormat });
  });

  it('When an older 15-character tax ID is typed, then it is accepted by format', () => {
    expect(validateInvoiceForm({ ...organisation, taxId: '44030071526726X' }).ok).toBe(true);
  });

  it.each([
    [{ buyerKind: 'company' }, 'buyerKind', M.buyerKind],
    [{ buyerKind: undefined }, 'buyerKind', M.buyerKind],
    [{ title: '  ' }, 'title', M.titleRequired],
    [{ title: undefined }, 'title', M.titleRequired],
    [{ title: '公'.repeat(101) }, 'title', M.titleTooLong],
    [{ title: '某公司\u0000' }, 'title', M.titleBadCharacters],
    [{ taxId: '' }, 'taxId', M.taxIdRequired],
    [{ taxId: undefined }, 'taxId', M.taxIdRequired],
    [{ taxId: '9144030070846113' }, 'taxId', M.taxIdFormat],
    [{ taxId: '91440300708461136A' }, 'taxId', M.taxIdCheckDigit],
    [{ bankName: '银'.repeat(101) }, 'bankName', M.bankNameTooLong],
    [{ bankAccount: '1234567' }, 'bankAccount', M.bankAccount],
    [{ bankAccount: '1'.repeat(31) }, 'bankAccount', M.bankAccount],
    [{ bankAccount: '6222 0000 ABCD' }, 'bankAccount', M.bankAccount],
    [{ bankName: '银'.repeat(70), bankAccount: '1'.repeat(30) }, 'bankName', M.bankTooLong],
    [{ address: '址'.repeat(101) }, 'address', M.addressTooLong],
    [{ address: '址'.repeat(90), phone: '0755-86013388' }, 'address', M.addressAndPhoneTooLong],
    [{ phone: '电话号码' }, 'phone', M.phone],
    [{ phone: '12' }, 'phone', M.phone],
    [{ email: '' }, 'email', M.emailRequired],
    [{ email: undefined }, 'email', M.emailRequired],
    [{ email: 'finance@' }, 'email', M.email],
    [{ email: 'finance example.com' }, 'email', M.email],
    [{ mobile: '12800138000' }, 'mobile', M.mobile],
    [{ mobile: '1380013800' }, 'mobile', M.mobile],
    [{ mobile: '138001380001' }, 'mobile', M.mobile],
  ])('When the form has %j, then %s gets the message %s', (change, field, message) => {
    expect(errorsOf(change)).toEqual({ [field]: message });
  });

  it('When several fields are wrong, then each gets its own message at once', () => {
    expect(errorsOf({ title: '', taxId: '', email: 'x', mobile: '1' })).toEqual({ title: M.titleRequired, taxId: M.taxIdRequired, email: M.email, mobile: M.mobile });
  });

  it('When the form is refused, then the log detail names the checks but not the values', () => {
    const result = validateInvoiceForm({ ...organisation, email: 'secret-person@', mobile: '12800138000' });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.detail).toMatch(/email: invalid_format/);
      expect(result.detail).not.toMatch(/secret-person|12800138000/);
    }
  });

  it('When bank and account together are exactly 100 characters with the space, then they are accepted', () => {
    expect(validateInvoiceForm({ ...organisation, bankName: '银'.repeat(69), bankAccount: '1'.repeat(30) }).ok).toBe(true);
  });

  it.each(['13800138000', '138 0013 8000', '19912345678'])('When the mobile is %s, then it is accepted', (mobile) => {
    expect(validateInvoiceForm({ ...organisation, mobile }).ok).toBe(true);
  });

  it.each(['0755-86013388', '(0755)86013388', '+86 755 8601 3388', '95555', '13800138000'])('When the phone is %s, then it is accepted', (phone) => {
    expect(validateInvoiceForm({ ...organisation, phone }).ok).toBe(true);
  });
});

describe('title against the certificate organisation', () => {
  it('When they differ only in bracket width and spaces, then they are the same title', () => {
    expect(titleDiffersFromOrganisation('阿里巴巴（中国）有限公司', '阿里巴巴(中国) 有限公司')).toBe(false);
  });
  it('When they name different organisations, then the title differs (a warning, not a refusal)', () => {
    expect(titleDiffersFromOrganisation('阿里巴巴（中国）网络技术有限公司', '阿里巴巴（中国）有限公司')).toBe(true);
  });
});
