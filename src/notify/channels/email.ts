/**
 * Email through Azure Communication Services: the `EmailMessage` the ACS email client sends. ACS
 * requires the sender, `content.subject` and `recipients.to`; the message carries both a plain-text
 * and an HTML body. Every value that reaches the HTML is escaped; only Switchyard's own http(s) links
 * become anchors, and addresses in quoted text are made inert (text.ts `inert`) so that no mail client
 * links them.
 */
import type { EmailMessage } from "@azure/communication-email";
import type { NotificationEvent } from "../event.ts";
import { ACTIONS_INTRO, displayText, fit, inert, linkUrl, oneLine, requestBody, requestLine, severityWord } from "./text.ts";

export interface EmailMessageOptions {
  /** The sender: an address on a domain verified for the Communication Services resource. */
  readonly from: string;
  readonly to: readonly string[];
}

const TITLE = 150;

const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** `text` escaped for HTML text and attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

export function emailMessage(event: NotificationEvent, options: EmailMessageOptions): EmailMessage {
  const from = oneLine(options.from);
  const to = options.to.map(oneLine).filter((a) => a !== "");
  if (from === "") throw new Error("an email notification needs a sender address");
  if (to.length === 0) throw new Error("an email notification needs at least one recipient");

  const title = fit(inert(oneLine(event.title)) || event.kind, TITLE);
  return {
    senderAddress: from,
    recipients: { to: to.map((address) => ({ address })) },
    content: {
      subject: emailSubject(event),
      plainText: plainBody(event, title),
      html: htmlBody(event, title),
    },
    // Engagement tracking rewrites links; an approval link must reach the reader unchanged.
    disableUserEngagementTracking: true,
  };
}

/** `[Switchyard] <SEVERITY> <title>` on one line, without control characters. */
export function emailSubject(event: NotificationEvent): string {
  return oneLine(`[Switchyard] ${severityWord(event.severity)} ${fit(inert(oneLine(event.title)) || event.kind, TITLE)}`);
}

function contextLine(event: NotificationEvent): string {
  return oneLine([`Plan ${event.plan}`, ...(event.runId ? [`run ${event.runId}`] : []), event.at].join(" · "));
}

function plainBody(event: NotificationEvent, title: string): string {
  const out = [title, contextLine(event), ""];
  const text = inert(displayText(event.text).trim());
  if (text) out.push(text, "");
  if (event.facts.length > 0) {
    for (const f of event.facts) out.push(`${inert(oneLine(f.name))}: ${inert(displayText(f.value))}`);
    out.push("");
  }
  if (event.actions.length > 0) {
    out.push(ACTIONS_INTRO, "");
    for (const a of event.actions) out.push(`${oneLine(a.label)}:`, `  ${requestLine(a)}`, `  ${requestBody(a)}`, "");
  }
  const links = event.links.flatMap((l) => {
    const url = linkUrl(l);
    return url === undefined ? [] : [`${oneLine(l.label) || url}: ${url}`];
  });
  if (links.length > 0) out.push(...links, "");
  return out.join("\n").trimEnd() + "\n";
}

/** Escaped text with its line breaks kept. */
const htmlText = (text: string): string => escapeHtml(text).replace(/\n/g, "<br>\n");

function htmlBody(event: NotificationEvent, title: string): string {
  const parts: string[] = [
    "<!DOCTYPE html>",
    '<html><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family: Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px;">',
    `<h2>${escapeHtml(title)}</h2>`,
    `<p style="color: #555555;">${escapeHtml(`${severityWord(event.severity)} · ${contextLine(event)}`)}</p>`,
  ];
  const text = inert(displayText(event.text).trim());
  if (text) parts.push(`<p>${htmlText(text)}</p>`);
  if (event.facts.length > 0) {
    parts.push('<table style="border-collapse: collapse;">');
    for (const f of event.facts) {
      parts.push(
        `<tr><th style="text-align: left; padding: 2px 12px 2px 0;">${escapeHtml(inert(oneLine(f.name)))}</th>` +
          `<td style="padding: 2px 0;">${htmlText(inert(displayText(f.value)))}</td></tr>`,
      );
    }
    parts.push("</table>");
  }
  if (event.actions.length > 0) {
    parts.push(`<p>${escapeHtml(ACTIONS_INTRO)}</p>`);
    for (const a of event.actions) {
      parts.push(`<p><strong>${escapeHtml(oneLine(a.label))}</strong></p>`);
      parts.push(`<pre style="background: #f4f4f4; padding: 8px;">${escapeHtml(`${requestLine(a)}\n${requestBody(a)}`)}</pre>`);
    }
  }
  const links = event.links.flatMap((l) => {
    const url = linkUrl(l);
    return url === undefined ? [] : [`<li><a href="${escapeHtml(url)}">${escapeHtml(oneLine(l.label) || url)}</a></li>`];
  });
  if (links.length > 0) parts.push("<ul>", ...links, "</ul>");
  parts.push("</body></html>");
  return parts.join("\n");
}
