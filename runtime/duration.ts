// Durations on the command line: "500ms", "3s", "1.5m", "2h"; a bare number means seconds,
// as with timeout(1).

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or null when `text` is not a positive duration. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  return ms > 0 && Number.isFinite(ms) ? Math.round(ms) : null;
}
