import { mediaSerial, serialHex, serialVariants, unionid } from '../../../src/modules/legacy-bindings/schemas';

describe('legacy binding values', () => {
  it.each([
    ['0A:1B:2C', '0a1b2c'],
    ['0x00FF', '00ff'],
    ['0a 1b 2c', '0a1b2c'],
    ['7F', '7f'],
  ])('When a serial is written as "%s", then it is stored as %s', (input, stored) => {
    expect(serialHex.parse(input)).toBe(stored);
  });

  it.each(['', 'xyz', '12-34', 'ab'.repeat(22)])('When a serial is "%s", then it is refused', (input) => {
    expect(serialHex.safeParse(input).success).toBe(false);
  });

  it('When a serial is looked up, then the spellings with and without DER\'s sign byte and leading zero are all tried', () => {
    expect(serialVariants('00ff')).toEqual(expect.arrayContaining(['00ff', 'ff']));
    expect(serialVariants('ff')).toEqual(expect.arrayContaining(['ff', '00ff']));
    expect(serialVariants('a1b')).toEqual(expect.arrayContaining(['a1b', '0a1b']));
  });

  it('When unionids and media serials are checked, then WeChat-shaped and U-KEY-shaped values pass and others do not', () => {
    expect(unionid.safeParse('oTmHYjg-tElZ68xxxxxxxxxxxxxx').success).toBe(true);
    expect(unionid.safeParse('o@bad unionid value').success).toBe(false);
    expect(unionid.safeParse('short').success).toBe(false);
    expect(mediaSerial.safeParse('9000000000001234').success).toBe(true);
    expect(mediaSerial.safeParse('SN_0001-A').success).toBe(true);
    expect(mediaSerial.safeParse('12').success).toBe(false);
    expect(mediaSerial.safeParse('含中文1234').success).toBe(false);
  });
});
