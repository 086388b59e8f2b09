import { Unzip, UnzipInflate, zipSync } from 'fflate';

/** The archive unpacks to more than the caller allows (counted while inflating, whatever the archive declares). */
export class ZipTooLargeError extends Error {
  constructor(readonly limitBytes: number, detail: string) {
    super(detail);
    this.name = 'ZipTooLargeError';
  }
}

/** Not a zip we can read (bad headers, a broken deflate stream, an unknown compression method). */
export class ZipUnreadableError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'ZipUnreadableError';
  }
}

/** Input is fed in small steps so one step can never inflate much past the limit (deflate tops out near 1:1032). */
const STEP_BYTES = 16 * 1024;

/**
 * Unpacks a zip, counting the bytes as they come out of the inflater and stopping at `maxBytes`. The sizes a zip
 * declares (central directory, local headers) are only claims: a 410 KB file that lied there took a reader that
 * trusted them to 2.1 GB. Entries are read in stream order from their local headers, as a streaming reader would.
 */
export function unzipBounded(bytes: Uint8Array, maxBytes: number, maxEntries = 10_000): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let total = 0;
  let entries = 0;
  let failure: Error | undefined;
  const unzip = new Unzip((file) => {
    if (failure) return;
    if (++entries > maxEntries) {
      failure = new ZipTooLargeError(maxBytes, `more than ${maxEntries} entries`);
      return;
    }
    const chunks: Uint8Array[] = [];
    file.ondata = (err, chunk, final) => {
      if (failure) return;
      if (err) {
        failure = new ZipUnreadableError(`${file.name}: ${err.message}`);
        return;
      }
      total += chunk.length;
      if (total > maxBytes) {
        failure = new ZipTooLargeError(maxBytes, `inflated past ${maxBytes} bytes in ${file.name.slice(0, 80)}`);
        file.terminate();
        return;
      }
      chunks.push(chunk);
      if (final) files.set(file.name, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    try {
      file.start();
    } catch (err) {
      failure = new ZipUnreadableError(`${file.name}: ${(err as Error).message}`);
    }
  });
  unzip.register(UnzipInflate);
  try {
    for (let at = 0; at < bytes.length && !failure; at += STEP_BYTES) unzip.push(bytes.subarray(at, at + STEP_BYTES), at + STEP_BYTES >= bytes.length);
  } catch (err) {
    failure ??= new ZipUnreadableError((err as Error).message);
  }
  if (failure) throw failure;
  if (!entries) throw new ZipUnreadableError('no entries');
  return files;
}

/** Packs entries again without compression: a zip whose declared sizes are true, for readers that trust them. */
export function storedZip(files: Map<string, Uint8Array>): Buffer {
  const zipped = zipSync(Object.fromEntries(files), { level: 0 });
  return Buffer.from(zipped.buffer, zipped.byteOffset, zipped.byteLength);
}
