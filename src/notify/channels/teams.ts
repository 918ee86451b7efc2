/**
 * Microsoft Teams through a Workflows (Power Automate) webhook, "Post to a channel when a webhook
 * request is received": a message whose one attachment is an Adaptive Card. Workflows render cards up
 * to version 1.4 (a 1.5 card is refused or shown as "this card couldn't be displayed"), so the card
 * uses nothing newer.
 *
 * Teams reads TextBlock text and FactSet titles and values as Markdown (links included), so text that
 * may quote people or Azure goes in RichTextBlock TextRuns, which are never read as Markdown: the
 * message, each fact (a bold name run and a value run), the requests. The title stays a TextBlock
 * coloured by severity, with whatever could form a link in it broken apart (`](`, `<scheme:`), and in
 * every quoted text addresses are made inert (text.ts `inert`). Chat cards cannot carry Switchyard's
 * authenticated POST: each action is shown as the request to send, and links become Action.OpenUrl
 * buttons.
 */
import type { NotificationEvent } from "../event.ts";
import { ACTIONS_INTRO, displayText, fit, inert, linkUrl, oneLine, requestBody, requestLine, severityWord } from "./text.ts";
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
  | { type: "RichTextBlock"; inlines: TextRun[]; spacing?: "none" | "medium" };
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

/**
 * The message body (exported for tests and previews): fields shrink until it fits TEAMS_MAX_BYTES; a
 * card still too large then drops links (whole URLs cannot be cut), then facts, from the last.
 */
export function teamsMessage(event: NotificationEvent): TeamsMessage {
  const fits = (m: TeamsMessage) => Buffer.byteLength(JSON.stringify(m), "utf8") <= TEAMS_MAX_BYTES;
  let sizes: Sizes = FULL;
  let message = wrap(adaptiveCard(event, sizes));
  for (const scale of [0.5, 0.25, 0.1]) {
    if (fits(message)) return message;
    sizes = Object.fromEntries(Object.entries(FULL).map(([k, v]) => [k, Math.max(20, Math.floor(v * scale))])) as Sizes;
    message = wrap(adaptiveCard(event, sizes));
  }
  let keep = { links: MAX_LINKS, facts: MAX_FACTS };
  while (!fits(message) && (keep.links > 0 || keep.facts > 0)) {
    keep = keep.links > 0 ? { ...keep, links: keep.links - 1 } : { ...keep, facts: keep.facts - 1 };
    message = wrap(adaptiveCard(event, sizes, keep));
  }
  return message;
}

const wrap = (card: AdaptiveCard): TeamsMessage => ({
  type: "message",
  attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, contentUrl: null, content: card }],
});

const run = (text: string, style: Omit<TextRun, "type" | "text"> = {}): TextRun => ({ type: "TextRun", text, ...style });

/**
 * The title as TextBlock Markdown that cannot form a link: addresses inert, `](` of an inline link and
 * the `<` of an autolink (`<scheme:…>`) kept apart from what follows.
 */
const titleText = (text: string): string => inert(text).replace(/\]\s*\(/g, "] (").replace(/<(?=[A-Za-z][A-Za-z0-9+.-]{1,31}:)/g, "< ");

function adaptiveCard(event: NotificationEvent, size: Sizes, keep: { readonly links: number; readonly facts: number } = { links: MAX_LINKS, facts: MAX_FACTS }): AdaptiveCard {
  const color = event.severity === "critical" ? "attention" : event.severity === "warning" ? "warning" : "default";
  const body: Element[] = [
    { type: "TextBlock", text: fit(titleText(oneLine(event.title)) || event.kind, size.title), wrap: true, weight: "bolder", size: "medium", color },
  ];
  const context = [severityWord(event.severity), `plan ${event.plan}`, ...(event.runId ? [`run ${event.runId}`] : []), event.at];
  body.push({ type: "RichTextBlock", inlines: [run(oneLine(context.join(" · ")), { isSubtle: true, size: "small" })], spacing: "none" });

  body.push(...textLines(fit(inert(displayText(event.text).trim()), size.text)));

  // Each fact as a name run and a value run: a FactSet would read both as Markdown.
  for (const [i, f] of event.facts.slice(0, keep.facts).entries()) {
    body.push({
      type: "RichTextBlock",
      inlines: [run(`${fit(inert(oneLine(f.name)), size.factName) || "-"}: `, { weight: "bolder" }), run(fit(inert(oneLine(f.value)), size.factValue) || "-")],
      spacing: i === 0 ? "medium" : "none",
    });
  }

  const actions = event.actions.slice(0, MAX_ACTIONS);
  if (actions.length > 0) {
    body.push({
      type: "TextBlock",
      text: ACTIONS_INTRO,
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
    if (url === undefined || links.length >= keep.links) continue;
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
