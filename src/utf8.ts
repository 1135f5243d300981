/**
 * Strict UTF-8 decoding (RFC 3629): invalid sequences throw instead of becoming U+FFFD, so a
 * malformed body, credential or JOSE segment is refused rather than read as something else. One
 * decoder for the process: a decode without `stream` keeps no state between calls.
 */
export const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
