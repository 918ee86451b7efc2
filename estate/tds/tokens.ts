/**
 * The server's token stream (MS-TDS 2.2.7): the tokens a login response and a result set are made
 * of, in the TDS 7.4 layout (4-byte line numbers, 8-byte row counts).
 */

const Token = {
  COLMETADATA: 0x81,
  RETURNSTATUS: 0x79,
  ERROR: 0xaa,
  INFO: 0xab,
  LOGINACK: 0xad,
  FEATUREEXTACK: 0xae,
  ROW: 0xd1,
  ENVCHANGE: 0xe3,
  FEDAUTHINFO: 0xee,
  DONE: 0xfd,
  DONEPROC: 0xfe,
  DONEINPROC: 0xff,
} as const;

export const DoneStatus = { FINAL: 0x00, MORE: 0x01, ERROR: 0x02, COUNT: 0x10, ATTN: 0x20 } as const;
/** DONE CurCmd values SQL Server uses. */
export const CurCmd = { NONE: 0x00, SELECT: 0xc1, EXECUTE: 0xe0 } as const;

const utf16 = (text: string) => Buffer.from(text, "utf16le");

/** B_VARCHAR: a byte count of characters, then UTF-16LE (at most 255 characters). */
function bVarchar(text: string): Buffer {
  const chars = text.slice(0, 255);
  return Buffer.concat([Buffer.from([chars.length]), utf16(chars)]);
}

/** US_VARCHAR: a USHORT count of characters, then UTF-16LE. */
function usVarchar(text: string): Buffer {
  const chars = text.slice(0, 0xffff);
  const length = Buffer.alloc(2);
  length.writeUInt16LE(chars.length);
  return Buffer.concat([length, utf16(chars)]);
}

/** A token with a USHORT length after its type byte. */
function withUShortLength(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(3);
  header.writeUInt8(type, 0);
  header.writeUInt16LE(body.length, 1);
  return Buffer.concat([header, body]);
}

export interface SqlMessage {
  readonly number: number;
  readonly state: number;
  readonly class: number;
  readonly message: string;
  readonly serverName: string;
  readonly lineNumber: number;
}

function message(type: number, m: SqlMessage): Buffer {
  const head = Buffer.alloc(6);
  head.writeInt32LE(m.number, 0);
  head.writeUInt8(m.state, 4);
  head.writeUInt8(m.class, 5);
  const line = Buffer.alloc(4);
  line.writeInt32LE(m.lineNumber);
  return withUShortLength(type, Buffer.concat([head, usVarchar(m.message), bVarchar(m.serverName), bVarchar(""), line]));
}

export const errorToken = (m: SqlMessage) => message(Token.ERROR, m);
export const infoToken = (m: SqlMessage) => message(Token.INFO, m);

function done(type: number, status: number, curCmd: number, rowCount: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt8(type, 0);
  b.writeUInt16LE(status, 1);
  b.writeUInt16LE(curCmd, 3);
  b.writeBigUInt64LE(BigInt(rowCount), 5);
  return b;
}

export const doneToken = (status: number, curCmd: number, rowCount = 0) => done(Token.DONE, status, curCmd, rowCount);
export const doneProcToken = (status: number, curCmd: number, rowCount = 0) => done(Token.DONEPROC, status, curCmd, rowCount);
export const doneInProcToken = (status: number, curCmd: number, rowCount = 0) => done(Token.DONEINPROC, status, curCmd, rowCount);

export function returnStatusToken(value: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUInt8(Token.RETURNSTATUS, 0);
  b.writeInt32LE(value, 1);
  return b;
}

/** ENVCHANGE with B_VARCHAR values (database 1, language 2, packet size 4). */
export function envChangeText(type: 1 | 2 | 4, newValue: string, oldValue: string): Buffer {
  return withUShortLength(Token.ENVCHANGE, Buffer.concat([Buffer.from([type]), bVarchar(newValue), bVarchar(oldValue)]));
}

/** SQL_Latin1_General_CP1_CI_AS (LCID 0x0409, sort id 52), Azure SQL Database's default collation. */
export const DEFAULT_COLLATION = Buffer.from([0x09, 0x04, 0xd0, 0x00, 0x34]);

/** ENVCHANGE type 7, the SQL collation (B_VARBYTE values). */
export function envChangeCollation(collation: Buffer): Buffer {
  return withUShortLength(Token.ENVCHANGE, Buffer.concat([Buffer.from([7, collation.length]), collation, Buffer.from([0])]));
}

/** LOGINACK: interface SQL_TSQL, the TDS version (big-endian on the wire), program name and version. */
export function loginAckToken(tdsVersion: number, progName: string, version: readonly [number, number, number]): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(1, 0);
  head.writeUInt32BE(tdsVersion, 1);
  const ver = Buffer.from([version[0], version[1], (version[2] >> 8) & 0xff, version[2] & 0xff]);
  return withUShortLength(Token.LOGINACK, Buffer.concat([head, bVarchar(progName), ver]));
}

/** FEATUREEXTACK: each acknowledged feature with its data, then the terminator. */
export function featureExtAckToken(features: readonly (readonly [number, Buffer])[]): Buffer {
  const parts: Buffer[] = [Buffer.from([Token.FEATUREEXTACK])];
  for (const [id, data] of features) {
    const head = Buffer.alloc(5);
    head.writeUInt8(id, 0);
    head.writeUInt32LE(data.length, 1);
    parts.push(head, data);
  }
  parts.push(Buffer.from([0xff]));
  return Buffer.concat(parts);
}

/** FEDAUTHINFO: the STS URL (id 1) and SPN (id 2); offsets count from CountOfInfoIDs. */
export function fedAuthInfoToken(stsUrl: string, spn: string): Buffer {
  const entries: [number, Buffer][] = [
    [0x01, utf16(stsUrl)],
    [0x02, utf16(spn)],
  ];
  const head = Buffer.alloc(4 + entries.length * 9);
  head.writeUInt32LE(entries.length, 0);
  let offset = head.length;
  entries.forEach(([id, data], i) => {
    head.writeUInt8(id, 4 + i * 9);
    head.writeUInt32LE(data.length, 5 + i * 9);
    head.writeUInt32LE(offset, 9 + i * 9);
    offset += data.length;
  });
  const body = Buffer.concat([head, ...entries.map(([, d]) => d)]);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(Token.FEDAUTHINFO, 0);
  prefix.writeUInt32LE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

// ---- result sets -----------------------------------------------------------------------------

/** The column types a result set here uses. */
export type ColumnType = "uniqueidentifier" | "sysname" | "nvarchar(256)" | "datetimeoffset" | "int" | "tinyint";

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
}

/** A value: a GUID string, text, a number, a time (ms since the epoch, UTC) for datetimeoffset, or null. */
export type Value = string | number | null;

const GUIDTYPE = 0x24;
const INTNTYPE = 0x26;
const DATETIMEOFFSETNTYPE = 0x2b;
const NVARCHARTYPE = 0xe7;

function typeInfo(type: ColumnType): Buffer {
  switch (type) {
    case "uniqueidentifier":
      return Buffer.from([GUIDTYPE, 16]);
    case "int":
      return Buffer.from([INTNTYPE, 4]);
    case "tinyint":
      return Buffer.from([INTNTYPE, 1]);
    case "datetimeoffset":
      return Buffer.from([DATETIMEOFFSETNTYPE, 7]);
    case "sysname":
    case "nvarchar(256)": {
      const b = Buffer.alloc(3);
      b.writeUInt8(NVARCHARTYPE, 0);
      b.writeUInt16LE(type === "sysname" ? 256 : 512, 1);
      return Buffer.concat([b, DEFAULT_COLLATION]);
    }
  }
}

export function colMetadataToken(columns: readonly Column[]): Buffer {
  const head = Buffer.alloc(3);
  head.writeUInt8(Token.COLMETADATA, 0);
  head.writeUInt16LE(columns.length, 1);
  const parts: Buffer[] = [head];
  for (const c of columns) {
    const fixed = Buffer.alloc(6);
    fixed.writeUInt32LE(0, 0); // user type
    fixed.writeUInt16LE(c.nullable ? 0x0001 : 0x0000, 4);
    parts.push(fixed, typeInfo(c.type), bVarchar(c.name));
  }
  return Buffer.concat(parts);
}

/** A uniqueidentifier's 16 bytes: the first three groups little-endian, the rest as written. */
function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, "");
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a GUID: ${guid}`);
  const b = Buffer.from(hex, "hex");
  return Buffer.concat([b.subarray(0, 4).reverse(), b.subarray(4, 6).reverse(), b.subarray(6, 8).reverse(), b.subarray(8)]);
}

const DAY_MS = 86_400_000;
/** Days from 0001-01-01 to 1970-01-01 (the proleptic Gregorian calendar DATE counts from). */
const EPOCH_DAYS = 719_162;

/** DATETIMEOFFSET(7) in UTC: 5 bytes of 100 ns units since midnight, 3 bytes of days since 0001-01-01, offset 0. */
function datetimeOffsetBytes(ms: number): Buffer {
  const days = Math.floor(ms / DAY_MS);
  const ticks = BigInt(ms - days * DAY_MS) * 10_000n;
  const b = Buffer.alloc(10);
  b.writeUIntLE(Number(ticks & 0xffffffffffn), 0, 5);
  b.writeUIntLE(days + EPOCH_DAYS, 5, 3);
  b.writeInt16LE(0, 8);
  return b;
}

function value(type: ColumnType, v: Value): Buffer {
  if (v === null) return type === "sysname" || type === "nvarchar(256)" ? Buffer.from([0xff, 0xff]) : Buffer.from([0]);
  switch (type) {
    case "uniqueidentifier":
      return Buffer.concat([Buffer.from([16]), guidBytes(String(v))]);
    case "int": {
      const b = Buffer.alloc(5);
      b.writeUInt8(4, 0);
      b.writeInt32LE(Number(v), 1);
      return b;
    }
    case "tinyint":
      return Buffer.from([1, Number(v) & 0xff]);
    case "datetimeoffset":
      return Buffer.concat([Buffer.from([10]), datetimeOffsetBytes(Number(v))]);
    case "sysname":
    case "nvarchar(256)": {
      const text = utf16(String(v));
      const length = Buffer.alloc(2);
      length.writeUInt16LE(text.length);
      return Buffer.concat([length, text]);
    }
  }
}

export function rowToken(columns: readonly Column[], row: readonly Value[]): Buffer {
  return Buffer.concat([Buffer.from([Token.ROW]), ...columns.map((c, i) => value(c.type, row[i] ?? null))]);
}
