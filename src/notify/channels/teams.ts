/**
 * Microsoft Teams through a Workflows (Power Automate) webhook, "Post to a channel when a webhook
 * request is received": a message whose one attachment is an Adaptive Card. Workflows render cards up
 * to version 1.4 (a 1.5 card is refused or shown as "this card couldn't be displayed"), so the card
 * uses nothing newer.
 *
 * The title is a TextBlock coloured by severity; free text and the requests go in RichTextBlock
 * TextRuns, which Adaptive Cards never read as Markdown, so they show exactly as written. Chat cards
 * cannot carry Switchyard's authenticated POST: each action is shown as the request to send, and
 * links become Action.OpenUrl buttons.
 */
import type { NotificationEvent } from "../event.ts";
import { displayText, fit, linkUrl, oneLine, requestBody, requestLine, severityWord } from "./text.ts";
import type { HttpDelivery } from "./types.ts";

/** The Adaptive Card schema version the card declares: the newest that Teams Workflows render. */
export const ADAPTIVE_CARD_VERSION = "1.4";
export const ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json";
export const ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";

/** Teams refuses messages over 28 KB; the card is built to stay under this many bytes of JSON. */
export const TEAMS_MAX_BYTES = 27 * 1024;

/** Teams shows six actions as buttons (more go to an overflow menu); links beyond ten are dropped. */
const MAX_LINKS = 10;
const MAX_FACTS = 20;
const MAX_ACTIONS = 10;
/** Text lines each get a block; lines past this many are joined into the last one. */
const MAX_LINES = 40;

/** Per-field lengths at full size; a card over TEAMS_MAX_BYTES is rebuilt with these scaled down. */
const FULL = { title: 150, text: 3000, factName: 80, factValue: 400, label: 80, line: 500, body: 1000 } as const;
type Sizes = { readonly [K in keyof typeof FULL]: number };

type TextRun = { type: "TextRun"; text: string; weight?: "bolder"; isSubtle?: boolean; size?: "small"; fontType?: "monospace" };
type Element =
  | { type: "TextBlock"; text: string; wrap: true; weight: "bolder"; size?: "medium"; color?: "attention" | "warning" | "default" }
  | { type: "RichTextBlock"; inlines: TextRun[]; spacing?: "none" | "medium" }
  | { type: "FactSet"; facts: { title: string; value: string }[] };
type OpenUrl = { type: "Action.OpenUrl"; title: string; url: string };

export interface AdaptiveCard {
  $schema: string;
  type: "AdaptiveCard";
  version: string;
  body: Element[];
  actions?: OpenUrl[];
  msteams: { width: "Full" };
}

export interface TeamsMessage {
  type: "message";
  attachments: { contentType: string; contentUrl: null; content: AdaptiveCard }[];
}

export function teamsDelivery(event: NotificationEvent, url: string): HttpDelivery {
  return { url, headers: { "content-type": "application/json" }, body: JSON.stringify(teamsMessage(event)) };
}

/** The message body (exported for tests and previews); fields shrink until it fits TEAMS_MAX_BYTES. */
export function teamsMessage(event: NotificationEvent): TeamsMessage {
  let message = wrap(adaptiveCard(event, FULL));
  for (const scale of [0.5, 0.25, 0.1]) {
    if (Buffer.byteLength(JSON.stringify(message), "utf8") <= TEAMS_MAX_BYTES) break;
    const sizes = Object.fromEntries(Object.entries(FULL).map(([k, v]) => [k, Math.max(20, Math.floor(v * scale))])) as Sizes;
    message = wrap(adaptiveCard(event, sizes));
  }
  return message;
}

const wrap = (card: AdaptiveCard): TeamsMessage => ({
  type: "message",
  attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, contentUrl: null, content: card }],
});

const run = (text: string, style: Omit<TextRun, "type" | "text"> = {}): TextRun => ({ type: "TextRun", text, ...style });

function adaptiveCard(event: NotificationEvent, size: Sizes): AdaptiveCard {
  const color = event.severity === "critical" ? "attention" : event.severity === "warning" ? "warning" : "default";
  const body: Element[] = [
    { type: "TextBlock", text: fit(oneLine(event.title) || event.kind, size.title), wrap: true, weight: "bolder", size: "medium", color },
  ];
  const context = [severityWord(event.severity), `plan ${event.plan}`, ...(event.runId ? [`run ${event.runId}`] : []), event.at];
  body.push({ type: "RichTextBlock", inlines: [run(oneLine(context.join(" · ")), { isSubtle: true, size: "small" })], spacing: "none" });

  body.push(...textLines(fit(displayText(event.text).trim(), size.text)));

  const facts = event.facts.slice(0, MAX_FACTS).map((f) => ({
    title: fit(oneLine(f.name), size.factName),
    value: fit(oneLine(f.value), size.factValue) || "-",
  }));
  if (facts.length > 0) body.push({ type: "FactSet", facts });

  const actions = event.actions.slice(0, MAX_ACTIONS);
  if (actions.length > 0) {
    body.push({
      type: "TextBlock",
      text: "To act, send one of these requests to the Switchyard API, authenticated as an operator:",
      wrap: true,
      weight: "bolder",
    });
    for (const action of actions) {
      body.push({ type: "RichTextBlock", inlines: [run(fit(oneLine(action.label), size.label), { weight: "bolder" })] });
      body.push({
        type: "RichTextBlock",
        inlines: [run(fit(requestLine(action), size.line), { fontType: "monospace" })],
        spacing: "none",
      });
      body.push({
        type: "RichTextBlock",
        inlines: [run(fit(requestBody(action), size.body), { fontType: "monospace" })],
        spacing: "none",
      });
    }
  }

  const links: OpenUrl[] = [];
  for (const link of event.links) {
    const url = linkUrl(link);
    if (url === undefined || links.length === MAX_LINKS) continue;
    links.push({ type: "Action.OpenUrl", title: fit(oneLine(link.label), size.label) || "Open", url });
  }

  return {
    $schema: ADAPTIVE_CARD_SCHEMA,
    type: "AdaptiveCard",
    version: ADAPTIVE_CARD_VERSION,
    body,
    ...(links.length > 0 ? { actions: links } : {}),
    msteams: { width: "Full" },
  };
}

/** One RichTextBlock per line (TextRuns do not break lines); a blank line becomes extra spacing. */
function textLines(text: string): Element[] {
  if (!text) return [];
  const lines = text.split("\n");
  const kept = lines.length > MAX_LINES ? [...lines.slice(0, MAX_LINES - 1), lines.slice(MAX_LINES - 1).join(" ")] : lines;
  const out: Element[] = [];
  let gap = false;
  for (const line of kept) {
    if (line.trim() === "") {
      gap = out.length > 0;
      continue;
    }
    out.push({ type: "RichTextBlock", inlines: [run(line)], ...(gap ? { spacing: "medium" as const } : { spacing: "none" as const }) });
    gap = false;
  }
  if (out[0] && out[0].type === "RichTextBlock") delete out[0].spacing;
  return out;
}
