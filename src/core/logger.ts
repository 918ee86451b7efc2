/** How Switchyard logs: a message and structured fields (plan, run id, resource), never a secret value. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that adds `keys` to every line (a line's own fields win). */
export function withKeys(log: Logger, keys: Record<string, unknown>): Logger {
  const emit = (write: Logger["info"]) => (message: string, fields?: Record<string, unknown>) => write(message, { ...keys, ...fields });
  return { info: emit(log.info.bind(log)), warn: emit(log.warn.bind(log)), error: emit(log.error.bind(log)) };
}
