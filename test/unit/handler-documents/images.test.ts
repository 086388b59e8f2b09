import sharp from 'sharp';
import { MAX_INPUT_PIXELS, reencodeImage } from '../../../src/modules/handler-documents/images';
import { tinyPng } from '../../helpers/images';

/** A phone photo: 40 × 20 pixels stored sideways (EXIF orientation 6), with the maker and a GPS position in EXIF. */
async function phoneJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 40, height: 20, channels: 3, background: '#3a6' } })
    .jpeg()
    .withExif({ IFD0: { Make: 'TestPhoneMaker' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '23/1 7/1 0/1', GPSLongitudeRef: 'E', GPSLongitude: '113/1 16/1 0/1' } })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

/** The GPS IFD pointer tag (0x8825) in either byte order. */
const hasGpsPointer = (exif: Buffer | undefined) => !!exif && (exif.includes(Buffer.from([0x88, 0x25])) || exif.includes(Buffer.from([0x25, 0x88])));

describe('handler document images are re-encoded', () => {
  it('When a JPEG carries EXIF with a GPS position and a rotation, then the stored image has no EXIF at all and is turned upright', async () => {
    const input = await phoneJpeg();
    const before = await sharp(input).metadata();
    expect(hasGpsPointer(before.exif)).toBe(true);
    expect(before.orientation).toBe(6);
    const result = await reencodeImage('id-front', 'image/jpeg', input);
    if (!result.ok) throw new Error(result.detail);
    const after = await sharp(result.image.bytes).metadata();
    expect(after.exif).toBeUndefined();
    expect(result.image.bytes.includes(Buffer.from('TestPhoneMaker'))).toBe(false);
    expect([after.format, after.width, after.height, after.orientation ?? 1]).toEqual(['jpeg', 20, 40, 1]);
  });

  it('When bytes are appended after a valid image (a polyglot), then they are gone from the stored image', async () => {
    const trailer = Buffer.from('<script>alert(1)</script>PK\u0003\u0004hidden-archive');
    for (const [type, image] of [['image/png', tinyPng(16, 10, [1, 2, 3], 'png-comment-marker')], ['image/jpeg', await phoneJpeg()]] as const) {
      const result = await reencodeImage('authorisation', type, Buffer.concat([image, trailer]));
      if (!result.ok) throw new Error(result.detail);
      expect(result.image.bytes.includes(Buffer.from('hidden-archive'))).toBe(false);
      expect(result.image.bytes.includes(Buffer.from('png-comment-marker'))).toBe(false);
      expect(result.image.contentType).toBe(type);
    }
  });

  it('When a file starts like a JPEG but does not decode, then it is refused with a Chinese message naming the photo', async () => {
    const fake = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('not really a jpeg '.repeat(20))]);
    const result = await reencodeImage('id-back', 'image/jpeg', fake);
    expect(result).toMatchObject({ ok: false, kind: 'id-back', message: '身份证国徽面无法识别，请重新拍照或选择相册中的 JPG、PNG 照片' });
  });

  it('When an image declares more pixels than the limit, then it is refused before it is decoded', async () => {
    expect(MAX_INPUT_PIXELS).toBeLessThanOrEqual(40_000_000);
    const huge = await sharp({ create: { width: 6000, height: 4500, channels: 3, background: '#fff' } }).png({ compressionLevel: 9 }).toBuffer();
    expect(huge.length).toBeLessThan(5 * 1024 * 1024);
    const result = await reencodeImage('id-front', 'image/png', huge);
    expect(result).toMatchObject({ ok: false, message: '身份证人像面像素过大，请用手机普通拍照模式重新拍摄后上传' });
  });
});
