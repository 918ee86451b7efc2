/**
 * Slack: an incoming-webhook message in Block Kit. `text` is the fallback Slack shows in
 * notifications; the blocks carry the title (header), a context line, the message, the facts as
 * section fields, each action as the exact request in a code block, and the links.
 *
 * Text that may quote people or Azure (title, message, facts) is sent as `plain_text`, which Slack
 * never reads as mrkdwn: a quoted `<!channel>`, `<https://…|label>`, `*bold*` or code span shows as
 * written, and addresses in it are made inert (text.ts `inert`). Only Switchyard's own words (the
 * context line, the request code blocks, the links) are mrkdwn, `verbatim`, with `&`, `<` and `>`
 * escaped as Slack requires and cut to the block's limit after escaping. Chat cannot carry
 * Switchyard's authenticated POST, so actions are shown, not clickable.
 */
import type { NotificationEvent } from "../event.ts";
import { ACTIONS_INTRO, displayText, fit, inert, linkUrl, oneLine, requestBody, requestLine, severityWord } from "./text.ts";
import type { HttpDelivery } from "./types.ts";

/** Block Kit limits (Slack's block and composition-object reference). */
export const SLACK_LIMITS = {
  /** Blocks in one message. */
  blocks: 50,
  /** A header block's plain_text. */
  header: 150,
  /** A text object in a section or context block. */
  text: 3000,
  /** Fields in one section block. */
  fields: 10,
  /** One section field's text. */
  field: 2000,
  /** Elements in one context block. */
  contextElements: 10,
} as const;

/** At most this many facts are shown (the event's own bound); the rest are counted in a note. */
const MAX_FACTS = 20;
/** At most this many actions get a block each; the rest are counted in a note. */
const MAX_ACTIONS = 10;
const FACT_NAME = 200;

type Text = { type: "mrkdwn"; text: string; verbatim?: boolean } | { type: "plain_text"; text: string; emoji?: boolean };
type Block =
  | { type: "header"; text: Text }
  | { type: "section"; text?: Text; fields?: Text[] }
  | { type: "context"; elements: Text[] };

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
/** Slack's escaping of its control characters, one code point at a time. */
const escapeChar = (c: string): string => ESCAPES[c] ?? c;
/** `text` escaped for mrkdwn, whole. */
export const escapeMrkdwn = (text: string): string => text.replace(/[&<>]/g, escapeChar);

const mrkdwn = (text: string): Text => ({ type: "mrkdwn", text, verbatim: true });
/** Literal text (no mrkdwn, no mentions, no emoji codes); quoted addresses made inert. */
const plain = (text: string, limit: number): Text => ({ type: "plain_text", text: fit(inert(text), limit) || "-", emoji: false });

export function slackDelivery(event: NotificationEvent, url: string): HttpDelivery {
  return { url, headers: { "content-type": "application/json" }, body: JSON.stringify(slackMessage(event)) };
}

/** The message body (exported for tests and previews). */
export function slackMessage(event: NotificationEvent): { text: string; blocks: Block[]; unfurl_links: false; unfurl_media: false } {
  const title = inert(oneLine(event.title)) || event.kind;
  const blocks: Block[] = [{ type: "header", text: { type: "plain_text", text: fit(title, SLACK_LIMITS.header), emoji: false } }];

  const context = [`*${severityWord(event.severity)}*`, `plan ${event.plan}`, ...(event.runId ? [`run ${event.runId}`] : []), event.at];
  blocks.push({ type: "context", elements: [mrkdwn(fit(oneLine(context.join(" · ")), SLACK_LIMITS.text, escapeChar))] });

  const text = displayText(event.text).trim();
  if (text) blocks.push({ type: "section", text: plain(text, SLACK_LIMITS.text) });

  const facts = event.facts.slice(0, MAX_FACTS);
  for (let i = 0; i < facts.length; i += SLACK_LIMITS.fields) {
    blocks.push({ type: "section", fields: facts.slice(i, i + SLACK_LIMITS.fields).map((f) => factField(f.name, f.value)) });
  }

  if (event.actions.length > 0) blocks.push({ type: "section", text: mrkdwn(escapeMrkdwn(ACTIONS_INTRO)) });
  for (const action of event.actions.slice(0, MAX_ACTIONS)) {
    const label = `*${fit(oneLine(action.label), 200, escapeChar)}*\n`;
    const line = fit(requestLine(action), 1000, escapeChar);
    // What is left of the section's limit for the body, after the label, the request line and the fences.
    const room = SLACK_LIMITS.text - label.length - line.length - "```\n```".length;
    blocks.push({ type: "section", text: mrkdwn(`${label}\`\`\`${line}\n${fit(requestBody(action), room, escapeChar)}\`\`\``) });
  }

  const links = linkLine(event);
  if (links) blocks.push({ type: "section", text: mrkdwn(links) });

  const dropped = [
    ...(event.facts.length > MAX_FACTS ? [`${event.facts.length - MAX_FACTS} more facts not shown`] : []),
    ...(event.actions.length > MAX_ACTIONS ? [`${event.actions.length - MAX_ACTIONS} more actions not shown`] : []),
  ];
  if (dropped.length > 0) blocks.push({ type: "context", elements: [mrkdwn(dropped.join(" · "))] });

  // Slack reads the fallback as mrkdwn (with links and mentions parsed): escaped, its addresses inert.
  const fallback = fit(oneLine(`[${severityWord(event.severity)}] ${title} (plan ${event.plan})`), SLACK_LIMITS.text, escapeChar);
  return { text: fallback, blocks: blocks.slice(0, SLACK_LIMITS.blocks), unfurl_links: false, unfurl_media: false };
}

/** A fact as `name: value` in plain text, within one field's limit. */
function factField(name: string, value: string): Text {
  const head = `${fit(inert(oneLine(name)), FACT_NAME)}: `;
  return plain(head + (displayText(value).trim() || "-"), SLACK_LIMITS.field);
}

/** Links as `<url|label>`, whole links only, within one text object's limit. */
function linkLine(event: NotificationEvent): string {
  let out = "";
  for (const link of event.links) {
    const url = linkUrl(link);
    if (url === undefined) continue;
    const label = fit(oneLine(link.label) || url, 200, escapeChar);
    const item = `<${escapeMrkdwn(url).replace(/\|/g, "%7C")}|${label}>`;
    const next = out ? `${out} · ${item}` : item;
    if (next.length > SLACK_LIMITS.text) break;
    out = next;
  }
  return out;
}
