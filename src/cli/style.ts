/**
 * Colour and symbols for people at a terminal: only when the stream is a TTY and NO_COLOR is not set
 * (https://no-color.org: any non-empty value). Piped or redirected output stays plain text.
 */
export interface Style {
  /** A success: green, with a check mark. */
  good(text: string): string;
  /** A failure: red, with a cross. */
  bad(text: string): string;
  /** Something that needs attention: yellow. */
  warn(text: string): string;
}

export const PLAIN: Style = { good: (t) => t, bad: (t) => t, warn: (t) => t };

const paint = (code: number, text: string) => `\u001b[${code}m${text}\u001b[0m`;

const COLOUR: Style = {
  good: (t) => paint(32, `✓ ${t}`),
  bad: (t) => paint(31, `✗ ${t}`),
  warn: (t) => paint(33, t),
};

export function styleFor(stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>> = process.env): Style {
  return stream.isTTY === true && !env.NO_COLOR ? COLOUR : PLAIN;
}
