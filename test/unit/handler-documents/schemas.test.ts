import { parseDocumentForm, sniffImage } from '../../../src/modules/handler-documents/schemas';
import { jpegLike, tinyPng } from '../../helpers/images';

const NOW = Date.UTC(2026, 10, 26);
const FIELDS = { name: ' 李 四', idNumber: '11010519491231002x', organisation: '  梅州市住房公积金\n管理中心 ', consent: 'agree' };
const FILES = { 'id-front': jpegLike('a'), 'id-back': tinyPng(), authorisation: tinyPng(4, 4) };

describe('handler documents form', () => {
  it('When bytes are sniffed, then only real JPEG and PNG starts count, whatever the name or claimed type', () => {
    expect(sniffImage(jpegLike())).toBe('image/jpeg');
    expect(sniffImage(tinyPng())).toBe('image/png');
    expect(sniffImage(Buffer.from('<html></html>'))).toBeNull();
    expect(sniffImage(Buffer.from('%PDF-1.7 ...............'))).toBeNull();
    expect(sniffImage(tinyPng().subarray(0, 8))).toBeNull(); // a PNG signature alone is not an image
    expect(sniffImage(Buffer.from([0xff, 0xd8]))).toBeNull();
    expect(sniffImage(Buffer.alloc(0))).toBeNull();
  });

  it('When the form is valid, then name, ID number and organisation are normalized and the images carry their sniffed types', () => {
    const result = parseDocumentForm(FIELDS, FILES, NOW);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.value).toMatchObject({ name: '李四', idNumber: '11010519491231002X', organisation: '梅州市住房公积金 管理中心' });
    expect(result.value.files.map((f) => `${f.kind}:${f.contentType}`)).toEqual(['id-front:image/jpeg', 'id-back:image/png', 'authorisation:image/png']);
  });

  it('When fields or files are wrong or missing, then each gets its own Chinese message', () => {
    const result = parseDocumentForm({ name: '', idNumber: '110105194912310021', organisation: 'x', consent: '' }, { 'id-front': Buffer.from('GIF89a......'), 'id-back': Buffer.alloc(0) }, NOW);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual({
      name: '请输入姓名',
      idNumber: '身份证号码校验位不正确，请核对是否输错',
      organisation: '请按授权委托书上的单位全称填写（2-100 个字）',
      consent: '请阅读说明并勾选同意后再提交',
      'id-front': '身份证人像面不是 JPG 或 PNG 图片，请拍照或选择相册中的照片',
      'id-back': '请上传身份证国徽面照片',
      authorisation: '请上传授权委托书（加盖单位公章）照片',
    });
    const markup = parseDocumentForm({ ...FIELDS, organisation: '<script>x</script>' }, FILES, NOW);
    expect(markup.ok).toBe(false);
  });
});
