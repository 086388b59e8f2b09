import { deflateSync } from 'node:zlib';

/** CRC-32 (ISO-HDLC) as PNG chunks need it; Node 20 has no zlib.crc32 before 20.15 everywhere. */
function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A real, viewable PNG (a flat colour, `width` × `height`), with `text` in a tEXt chunk: a marker a test can
 * look for in what the server stored.
 */
export function tinyPng(width = 16, height = 10, rgb: [number, number, number] = [7, 193, 96], text = ''): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.concat(Array.from({ length: width }, () => Buffer.from(rgb)))]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(text ? [chunk('tEXt', Buffer.from(`Comment\0${text}`, 'utf8'))] : []),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Bytes that start like a JPEG (SOI + APP0 JFIF) followed by `text`: enough for a magic-byte check. */
export function jpegLike(text = '', size = 2048): Buffer {
  const head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01]);
  const body = Buffer.concat([head, Buffer.from(text, 'utf8')]);
  return Buffer.concat([body, Buffer.alloc(Math.max(0, size - body.length - 2), 0x20), Buffer.from([0xff, 0xd9])]);
}

/**
 * A real phone-like JPEG (`width` × `height`, decodable) carrying EXIF with a maker and a GPS position, and `text`
 * appended after its end marker, as a polyglot would: re-encoding must drop both.
 */
export async function photoJpeg(text = '', width = 24, height = 16): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  const jpeg = await sharp({ create: { width, height, channels: 3, background: '#4a7' } })
    .jpeg()
    .withExif({ IFD0: { Make: 'TestPhoneMaker' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '23/1 7/1 0/1', GPSLongitudeRef: 'E', GPSLongitude: '113/1 16/1 0/1' } })
    .toBuffer();
  return Buffer.concat([jpeg, Buffer.from(text, 'utf8')]);
}
