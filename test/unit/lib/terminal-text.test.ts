import { terminalText } from '../../../src/lib/terminal-text';

describe('terminal-safe text', () => {
  it('When a field carries colour, cursor and erase sequences, then they are removed whole', () => {
    expect(terminalText('\u001b[31m梅州\u001b[0m单位\u001b[2K\u001b[1A')).toBe('梅州单位');
  });

  it('When a field sets the window title or writes the clipboard (OSC), then nothing of it is left', () => {
    expect(terminalText('a\u001b]0;pwned\u0007b\u001b]52;c;ZWNobyBoaQ==\u001b\\c')).toBe('abc');
  });

  it('When a field carries C1 controls, DEL, NUL or a lone ESC, then they are removed', () => {
    expect(terminalText('x\u009b31my\u0085z\u007f\u0000\u001b')).toBe('xyz');
  });

  it('When a field carries bidi overrides (U+202E and friends), then they are removed', () => {
    expect(terminalText('付款\u202e额金\u202c人\u2066名\u2069称\u200f')).toBe('付款额金人名称');
  });

  it('When a field carries line breaks, tabs or carriage returns, then they become spaces so it cannot forge a line', () => {
    expect(terminalText('a\nline 9: 入账\rb\tc')).toBe('a line 9: 入账 b c');
  });

  it('When a whole message is printed with lines kept, then its line feeds stay and everything else is still cleaned', () => {
    expect(terminalText('Usage:\n  \u001b[1mnpm\u001b[0m run x\r', { lines: true })).toBe('Usage:\n  npm run x ');
  });

  it('When text is ordinary Chinese and ASCII, then it is unchanged', () => {
    expect(terminalText('入账 RO20260101（流水号 B-001）¥1,200.00')).toBe('入账 RO20260101（流水号 B-001）¥1,200.00');
  });
});
