/**
 * TDS framing and the client's login-time messages (MS-TDS 2.2.3 packet header, 2.2.6.4 LOGIN7,
 * 2.2.6.5 PRELOGIN, 2.2.6.3 federated authentication token). Everything read here comes from a
 * client: every length and offset is checked against the bytes actually received, and anything
 * that does not fit is a TdsProtocolError (the connection is then closed).
 */
import { revealLogin7Password } from "./logins.ts";

/** Packet types (MS-TDS 2.2.3.1.1). */
export const PacketType = {
  SQL_BATCH: 0x01,
  RPC_REQUEST: 0x03,
  TABULAR_RESULT: 0x04,
  ATTENTION: 0x06,
  FEDAUTH_TOKEN: 0x08,
  LOGIN7: 0x10,
  PRELOGIN: 0x12,
} as const;

const HEADER_LENGTH = 8;
const STATUS_EOM = 0x01;

/** A malformed or unexpected message: the connection is closed. */
export class TdsProtocolError extends Error {}

export interface TdsMessage {
  readonly type: number;
  readonly data: Buffer;
}

export interface PacketLimits {
  /** Largest packet accepted, header included (TDS allows up to 32767 negotiated; the length field is 16 bits). */
  readonly maxPacketBytes: number;
  /** Largest message (all packets of one request together). */
  readonly maxMessageBytes: number;
}

/** Reassembles messages from a byte stream of packets. */
export class PacketReader {
  private pending: Buffer = Buffer.alloc(0);
  private message: { type: number; parts: Buffer[]; size: number } | undefined;

  constructor(private readonly limits: PacketLimits) {}

  /** Adds received bytes; returns the messages they complete. Throws TdsProtocolError. */
  push(chunk: Buffer): TdsMessage[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const done: TdsMessage[] = [];
    while (this.pending.length >= HEADER_LENGTH) {
      const type = this.pending.readUInt8(0);
      const status = this.pending.readUInt8(1);
      const length = this.pending.readUInt16BE(2);
      if (length < HEADER_LENGTH || length > this.limits.maxPacketBytes) throw new TdsProtocolError(`packet length ${length} out of range`);
      if (this.pending.length < length) break;
      const body = this.pending.subarray(HEADER_LENGTH, length);
      this.pending = this.pending.subarray(length);
      const message = (this.message ??= { type, parts: [], size: 0 });
      if (message.type !== type) throw new TdsProtocolError("packet type changed within a message");
      message.size += body.length;
      if (message.size > this.limits.maxMessageBytes) throw new TdsProtocolError("message too large");
      message.parts.push(Buffer.from(body));
      if (status & STATUS_EOM) {
        done.push({ type, data: Buffer.concat(message.parts) });
        this.message = undefined;
      }
    }
    if (this.pending.length > this.limits.maxPacketBytes) throw new TdsProtocolError("unframed data");
    return done;
  }
}

/** Splits a payload into packets of at most `packetSize` bytes (header included), the last one marked end of message. */
export function framePackets(type: number, payload: Buffer, packetSize: number, spid: number): Buffer {
  const room = packetSize - HEADER_LENGTH;
  const packets: Buffer[] = [];
  let id = 1;
  for (let offset = 0; offset < payload.length || packets.length === 0; offset += room) {
    const body = payload.subarray(offset, offset + room);
    const last = offset + room >= payload.length;
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt8(type, 0);
    header.writeUInt8(last ? STATUS_EOM : 0, 1);
    header.writeUInt16BE(HEADER_LENGTH + body.length, 2);
    header.writeUInt16BE(spid, 4);
    header.writeUInt8(id++ % 256, 6);
    packets.push(header, body);
  }
  return Buffer.concat(packets);
}

// ---- PRELOGIN ---------------------------------------------------------------------------------

export const PreloginOption = { VERSION: 0x00, ENCRYPTION: 0x01, INSTOPT: 0x02, THREADID: 0x03, MARS: 0x04, FEDAUTHREQUIRED: 0x06, TERMINATOR: 0xff } as const;

/** A client's PRELOGIN: its options by token. The first option must be VERSION (MS-TDS 3.3.5.1). */
export function parsePrelogin(data: Buffer): Map<number, Buffer> {
  const options = new Map<number, Buffer>();
  let at = 0;
  for (;;) {
    if (at >= data.length) throw new TdsProtocolError("PRELOGIN without terminator");
    const token = data.readUInt8(at);
    if (token === PreloginOption.TERMINATOR) break;
    if (at + 5 > data.length) throw new TdsProtocolError("PRELOGIN option header truncated");
    const offset = data.readUInt16BE(at + 1);
    const length = data.readUInt16BE(at + 3);
    if (offset + length > data.length) throw new TdsProtocolError("PRELOGIN option out of bounds");
    if (options.size === 0 && token !== PreloginOption.VERSION) throw new TdsProtocolError("PRELOGIN does not start with VERSION");
    options.set(token, data.subarray(offset, offset + length));
    at += 5;
  }
  if (!options.has(PreloginOption.VERSION)) throw new TdsProtocolError("PRELOGIN without VERSION");
  return options;
}

/** The server's PRELOGIN: options in token order, each `[token, data]`. */
export function buildPrelogin(options: readonly (readonly [number, Buffer])[]): Buffer {
  const headerSize = options.length * 5 + 1;
  const header = Buffer.alloc(headerSize);
  let offset = headerSize;
  options.forEach(([token, data], i) => {
    header.writeUInt8(token, i * 5);
    header.writeUInt16BE(offset, i * 5 + 1);
    header.writeUInt16BE(data.length, i * 5 + 3);
    offset += data.length;
  });
  header.writeUInt8(PreloginOption.TERMINATOR, headerSize - 1);
  return Buffer.concat([header, ...options.map(([, data]) => data)]);
}

// ---- LOGIN7 -----------------------------------------------------------------------------------

/** FEDAUTH feature extension (MS-TDS 2.2.6.4, FeatureExt). */
export type FedAuth =
  | { readonly library: "securityToken"; readonly echo: boolean; readonly tokenBytes: number }
  | { readonly library: "adal"; readonly echo: boolean; readonly workflow: number }
  | { readonly library: "other"; readonly echo: boolean; readonly code: number };

export interface Login7 {
  readonly tdsVersion: number;
  readonly packetSize: number;
  readonly userName: string;
  readonly hasPassword: boolean;
  /** SQL authentication's password, revealed from its LOGIN7 obfuscation ("" when none): never to be kept or shown. */
  readonly password: string;
  readonly database: string;
  readonly hasSspi: boolean;
  readonly fedAuth?: FedAuth;
  readonly utf8Support: boolean;
}

const FEATURE_FEDAUTH = 0x02;
const FEATURE_UTF8_SUPPORT = 0x0a;
const FEATURE_TERMINATOR = 0xff;
const FLAGS3_EXTENSION = 0x10;

/** Reads a LOGIN7 message (the fixed part is 94 bytes; every variable field is an offset/length into the message). */
export function parseLogin7(data: Buffer): Login7 {
  if (data.length < 94) throw new TdsProtocolError("LOGIN7 shorter than its fixed part");
  const declared = data.readUInt32LE(0);
  if (declared > data.length || declared < 94) throw new TdsProtocolError("LOGIN7 length does not match the message");
  const text = (at: number): string => {
    const offset = data.readUInt16LE(at);
    const chars = data.readUInt16LE(at + 2);
    if (chars === 0) return "";
    if (offset + chars * 2 > declared) throw new TdsProtocolError("LOGIN7 field out of bounds");
    return data.toString("utf16le", offset, offset + chars * 2);
  };
  const flags3 = data.readUInt8(27);
  const userName = text(40);
  const passwordOffset = data.readUInt16LE(44);
  const passwordChars = data.readUInt16LE(46);
  if (passwordOffset + passwordChars * 2 > declared) throw new TdsProtocolError("LOGIN7 field out of bounds");
  const password = revealLogin7Password(data.subarray(passwordOffset, passwordOffset + passwordChars * 2));
  const database = text(68);
  const sspiBytes = data.readUInt16LE(80);
  let fedAuth: FedAuth | undefined;
  let utf8Support = false;
  if (flags3 & FLAGS3_EXTENSION) {
    const ib = data.readUInt16LE(56);
    const cb = data.readUInt16LE(58);
    if (cb < 4 || ib + 4 > declared) throw new TdsProtocolError("LOGIN7 extension pointer out of bounds");
    let at = data.readUInt32LE(ib);
    for (;;) {
      if (at >= declared) throw new TdsProtocolError("FeatureExt without terminator");
      const feature = data.readUInt8(at);
      if (feature === FEATURE_TERMINATOR) break;
      if (at + 5 > declared) throw new TdsProtocolError("FeatureExt header truncated");
      const length = data.readUInt32LE(at + 1);
      const start = at + 5;
      if (length > declared - start) throw new TdsProtocolError("FeatureExt data out of bounds");
      const feat = data.subarray(start, start + length);
      if (feature === FEATURE_FEDAUTH) fedAuth = parseFedAuthFeature(feat);
      if (feature === FEATURE_UTF8_SUPPORT) utf8Support = feat.length > 0 && (feat.readUInt8(0) & 0x01) === 1;
      at = start + length;
    }
  }
  return {
    tdsVersion: data.readUInt32LE(4),
    packetSize: data.readUInt32LE(8),
    userName,
    hasPassword: passwordChars > 0,
    password,
    database,
    hasSspi: sspiBytes > 0 || data.readUInt32LE(90) > 0,
    ...(fedAuth ? { fedAuth } : {}),
    utf8Support,
  };
}

function parseFedAuthFeature(feat: Buffer): FedAuth {
  if (feat.length < 1) throw new TdsProtocolError("FEDAUTH feature without options");
  const options = feat.readUInt8(0);
  const library = options >> 1;
  const echo = (options & 0x01) === 1;
  if (library === 0x01) {
    if (feat.length < 5) throw new TdsProtocolError("FEDAUTH security token truncated");
    const tokenBytes = feat.readUInt32LE(1);
    if (tokenBytes > feat.length - 5) throw new TdsProtocolError("FEDAUTH security token out of bounds");
    return { library: "securityToken", echo, tokenBytes };
  }
  if (library === 0x02) {
    if (feat.length < 2) throw new TdsProtocolError("FEDAUTH ADAL workflow missing");
    return { library: "adal", echo, workflow: feat.readUInt8(1) };
  }
  return { library: "other", echo, code: library };
}

/** The federated authentication token message (packet type 0x08): the token's length in bytes (its value is never kept). */
export function parseFedAuthToken(data: Buffer): { tokenBytes: number } {
  if (data.length < 8) throw new TdsProtocolError("FEDAUTH token message truncated");
  const dataLen = data.readUInt32LE(0);
  const tokenBytes = data.readUInt32LE(4);
  if (dataLen > data.length - 4 || tokenBytes > dataLen - 4) throw new TdsProtocolError("FEDAUTH token out of bounds");
  return { tokenBytes };
}

// ---- requests after login ---------------------------------------------------------------------

/** Skips ALL_HEADERS (MS-TDS 2.2.5.3): a DWORD total length, itself included. */
function skipAllHeaders(data: Buffer): number {
  if (data.length < 4) throw new TdsProtocolError("ALL_HEADERS truncated");
  const total = data.readUInt32LE(0);
  if (total < 4 || total > data.length) throw new TdsProtocolError("ALL_HEADERS out of bounds");
  return total;
}

/** The SQL text of a SQL batch (packet type 0x01). */
export function parseSqlBatch(data: Buffer): string {
  const at = skipAllHeaders(data);
  if ((data.length - at) % 2 !== 0) throw new TdsProtocolError("SQL batch text is not UTF-16");
  return data.toString("utf16le", at);
}

/** sp_executesql's procedure id (MS-TDS 2.2.6.6, ProcID). */
const SP_EXECUTESQL = 10;

/**
 * An RPC request: the procedure (its well-known id as `#10`, or its name) and, for sp_executesql,
 * the statement (its first parameter, an NVARCHAR). Parameters after the first are not read.
 */
export function parseRpc(data: Buffer): { procedure: string; statement?: string } {
  let at = skipAllHeaders(data);
  const need = (n: number) => {
    if (at + n > data.length) throw new TdsProtocolError("RPC request truncated");
  };
  need(2);
  const nameChars = data.readUInt16LE(at);
  at += 2;
  let procedure: string;
  if (nameChars === 0xffff) {
    need(2);
    procedure = `#${data.readUInt16LE(at)}`;
    at += 2;
  } else {
    need(nameChars * 2);
    procedure = data.toString("utf16le", at, at + nameChars * 2);
    at += nameChars * 2;
  }
  need(2);
  at += 2; // option flags
  const isExecuteSql = procedure === `#${SP_EXECUTESQL}` || /^(sys\.)?sp_executesql$/i.test(procedure);
  if (!isExecuteSql || at === data.length) return { procedure };
  // First parameter: B_VARCHAR name, status byte, TYPE_INFO, value.
  need(1);
  const paramNameChars = data.readUInt8(at);
  at += 1 + paramNameChars * 2;
  need(1 + 1);
  at += 1; // status flags
  const type = data.readUInt8(at);
  at += 1;
  if (type !== 0xe7 && type !== 0xef) throw new TdsProtocolError("sp_executesql statement is not NVARCHAR/NCHAR");
  need(2 + 5);
  const maxLength = data.readUInt16LE(at);
  at += 2 + 5; // max length, collation
  if (maxLength !== 0xffff) {
    need(2);
    const bytes = data.readUInt16LE(at);
    at += 2;
    if (bytes === 0xffff) return { procedure };
    need(bytes);
    if (bytes % 2 !== 0) throw new TdsProtocolError("statement is not UTF-16");
    return { procedure, statement: data.toString("utf16le", at, at + bytes) };
  }
  // PLP: ULONGLONG total (or unknown), then chunks of ULONG length, ending with a zero-length chunk.
  need(8);
  const total = data.readBigUInt64LE(at);
  at += 8;
  if (total === 0xffffffffffffffffn) return { procedure };
  const chunks: Buffer[] = [];
  for (;;) {
    need(4);
    const length = data.readUInt32LE(at);
    at += 4;
    if (length === 0) break;
    need(length);
    chunks.push(data.subarray(at, at + length));
    at += length;
  }
  const text = Buffer.concat(chunks);
  if (text.length % 2 !== 0) throw new TdsProtocolError("statement is not UTF-16");
  return { procedure, statement: text.toString("utf16le") };
}
