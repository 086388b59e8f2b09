/**
 * Text from statements, users and the database made safe for an operator's terminal. A bank statement's
 * remark or a payer name can carry ESC sequences (recolour, move the cursor, rewrite earlier lines, set the
 * window title, OSC 52 writes to the clipboard), C1 controls that some terminals read as ESC, and bidi overrides
 * (U+202E) that make a line read differently from what it says. All of them go: whole ESC/CSI/OSC sequences
 * first (so no "[31m" debris is left), then every remaining C0/C1 control and DEL, and the invisible
 * direction marks. Tabs, carriage returns and line separators become spaces; line feeds too unless `lines` is
 * set (a whole multi-line message), so a field can never forge a line of its own.
 */
const ESC_SEQUENCES = new RegExp([
  '\\u001b\\][^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c)?', // OSC … BEL/ST (titles, clipboard, links)
  '\\u009d[^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c)?', // the same, introduced by C1 OSC
  '\\u001b\\[[0-?]*[ -/]*[@-~]?', // CSI: colours, cursor moves, erase
  '\\u009b[0-?]*[ -/]*[@-~]?', // C1 CSI
  '\\u001b[PX^_][^\\u001b\\u009c]*(?:\\u001b\\\\|\\u009c)?', // DCS, SOS, PM, APC strings
  '\\u001b[ -/]*[0-~]?', // any other escape (charset switches, RIS)
].join('|'), 'g');
const SPACES = /[\t\r\v\f\u2028\u2029]/g;
const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function terminalText(value: unknown, opts: { lines?: boolean } = {}): string {
  let text = String(value ?? '').replace(ESC_SEQUENCES, '').replace(SPACES, ' ');
  if (!opts.lines) text = text.replace(/\n/g, ' ');
  return text.replace(CONTROLS, '').replace(BIDI, '');
}
