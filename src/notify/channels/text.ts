/**
 * Text helpers shared by the channel encoders: clean text for display, fit it to a field's limit
 * (measured after the channel's escaping, so an escape is never cut in half) and render an action as
 * the exact request a person sends.
 */
import type { NotificationAction, NotificationLink } from "../event.ts";

/** The mark appended to text cut to fit a field. */
export const ELLIPSIS = "…";

// C0 controls except tab and line feed, DEL, C1 controls, and the bidirectional overrides and
// isolates that can reorder what a reader sees.
const HIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text fit for display: line breaks as `\n`, no control characters, no unpaired surrogates. */
export function displayText(text: string): string {
  return text.replace(/\r\n?/g, "\n").replace(HIDDEN, "").replace(LONE_SURROGATE, "\uFFFD");
}

/** Display text on one line: every run of whitespace (line breaks included) becomes one space. */
export function oneLine(text: string): string {
  return displayText(text).replace(/\s+/g, " ").trim();
}

/**
 * `text` encoded code point by code point with `encode` and cut so the result is at most `limit`
 * UTF-16 units long: when it does not fit, the longest prefix that leaves room for "…" is kept and
 * "…" appended. A code point and its escape are kept or dropped whole.
 */
export function fit(text: string, limit: number, encode: (codePoint: string) => string = (c) => c): string {
  const pieces = Array.from(text, encode);
  const total = pieces.reduce((n, p) => n + p.length, 0);
  if (total <= limit) return pieces.join("");
  if (limit < ELLIPSIS.length) return "";
  let out = "";
  for (const piece of pieces) {
    if (out.length + piece.length > limit - ELLIPSIS.length) break;
    out += piece;
  }
  return out + ELLIPSIS;
}

/**
 * Text quoted from people and Azure, made inert for a reader: an address in it is shown but no chat or
 * mail client turns it into a link (`https://host` becomes `https[:]//host`, `www.host` becomes
 * `www[.]host`, `mailto:x` becomes `mailto[:]x`). Switchyard's own links and requests are never passed
 * through it: they are rendered apart, as links and requests.
 */
export function inert(text: string): string {
  return text
    // Anchored on the separator itself (linear whatever the text): every `://` and `:\\`.
    .replace(/:(?=\/\/|\\\\)/g, "[:]")
    .replace(/\bwww\./gi, (w) => `${w.slice(0, 3)}[.]`)
    .replace(/\b(mailto|tel|callto|sms|msteams):(?!\/\/)/gi, "$1[:]");
}

/**
 * How to send the requests a notification lists, for the person reading it: the credential the API
 * takes, the body's rule, and that no other address in the message is Switchyard's.
 */
export const ACTIONS_INTRO =
  "To act, send one of these requests to the Switchyard API with a JSON body and the app's function key in the " +
  "x-functions-key header (where App Service authentication is on, also Authorization: Bearer and an Entra ID " +
  "token holding the Switchyard.Operator role). A reason is 3 to 500 characters. Only these requests come from " +
  "Switchyard: any other address in this message is quoted text.";

/** The severity as a word for headings and subjects. */
export const severityWord = (severity: string): string => severity.toUpperCase();

/**
 * An action's request body as compact JSON. A backtick inside a string is written as the JSON escape
 * `\u0060` (the same value), so the body can sit inside chat code formatting unchanged.
 */
export function requestBody(action: NotificationAction): string {
  return (JSON.stringify(action.body ?? {}) ?? "{}").replace(/`/g, "\\u0060");
}

/** The request line of an action: `POST <absolute URL, or the API path when the host is not known>`. */
export function requestLine(action: NotificationAction): string {
  return `${action.method} ${oneLine(action.url ?? action.path).replace(/`/g, "%60")}`;
}

/** The link's URL when it is an absolute http(s) URL; undefined for anything else (never rendered). */
export function linkUrl(link: NotificationLink): string | undefined {
  try {
    const url = new URL(link.url);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}
