// Sizes on the command line: "256m", "1g", "64MiB", "4096"; units are powers of 1024, as with
// docker's --memory, and a bare number is bytes.

const UNITS: Record<string, number> = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 };

/** Bytes, or null when `text` is not a positive whole number of bytes. */
export function parseByteSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return null;
  const bytes = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : null;
}
