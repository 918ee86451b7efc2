/*
 * Reading JSON the estate did not build itself: request bodies, query tokens, and resource bodies kept
 * as they were PUT. Every accessor takes `unknown` and answers `undefined` when the value is not of the
 * expected shape, so a malformed request can only ever reach an explicit refusal, never a crash.
 * (The estate imports nothing from src/, so it keeps its own small set of these.)
 */

export type Json = Record<string, unknown>;

/** A JSON object: not null, not an array. */
export const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

export const isString = (value: unknown): value is string => typeof value === "string";

/** `value[key]` when `value` is an object and that member is an object. */
export function objectAt(value: unknown, key: string): Json | undefined {
  if (!isObject(value)) return undefined;
  const member = value[key];
  return isObject(member) ? member : undefined;
}

/** `value[key]` when `value` is an object and that member is a string. */
export function stringAt(value: unknown, key: string): string | undefined {
  if (!isObject(value)) return undefined;
  const member = value[key];
  return typeof member === "string" ? member : undefined;
}

/** `value[key]` when `value` is an object and that member is a finite number. */
export function numberAt(value: unknown, key: string): number | undefined {
  if (!isObject(value)) return undefined;
  const member = value[key];
  return typeof member === "number" && Number.isFinite(member) ? member : undefined;
}

/** `value[key]` when `value` is an object and that member is an array (its elements still unchecked). */
export function arrayAt(value: unknown, key: string): unknown[] | undefined {
  if (!isObject(value)) return undefined;
  const member = value[key];
  return Array.isArray(member) ? member : undefined;
}

/** The objects in a value that should be an array of objects; anything else in it is skipped. */
export const objectsIn = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);

/** Whether a member is absent: missing, or given as JSON null (ARM treats both as "not set"). */
export const absent = (value: unknown): value is undefined | null => value === undefined || value === null;
