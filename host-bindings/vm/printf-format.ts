// The kernel's check of a bpf_snprintf-family format string (bpf_bprintf_prepare in
// kernel/bpf/helpers.c): printable ASCII only, and each conversion one of %d %i %u %x %X with
// optional l/ll, %c, %s, %p, %pK %px %ps %pS %pB, %pks %pus, %pi4 %pI4 %pi6 %pI6, after optional
// "0+- " flags and a width, with an argument for each. The verifier runs it on constant
// formats at load time; bpf_snprintf runs it again on every call.

const at = (s: string, i: number): string => (i < s.length ? s[i]! : '\0');
const isSpace = (c: string): boolean => c === ' ' || (c >= '\t' && c <= '\r');
const isPrint = (c: string): boolean => c >= ' ' && c <= '~';
const isPunct = (c: string): boolean => isPrint(c) && c !== ' ' && !/[0-9A-Za-z]/.test(c);
const isDigit = (c: string): boolean => c >= '0' && c <= '9';

/** Why `fmt` with `numArgs` u64 arguments is not a valid format, or undefined when it is. */
export function formatProblem(fmt: string, numArgs: number): string | undefined {
  let spec = 0;
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (!isPrint(c) && !isSpace(c)) return `character 0x${c.charCodeAt(0).toString(16)} at offset ${i} is not printable ASCII`;
    if (c !== '%') continue;
    if (at(fmt, i + 1) === '%') {
      i++;
      continue;
    }
    const start = i;
    if (spec >= numArgs) return `conversion at offset ${start} has no argument (${numArgs} given)`;
    i++;
    while ('0+- '.includes(at(fmt, i))) i++;
    if (at(fmt, i) >= '1' && at(fmt, i) <= '9') {
      i++;
      while (isDigit(at(fmt, i))) i++;
    }
    const conv = at(fmt, i), next = at(fmt, i + 1);
    const bad = (): string => `unsupported conversion "${fmt.slice(start, i + 1)}" at offset ${start}`;
    if (conv === 'p') {
      if ((next === 'k' || next === 'u') && at(fmt, i + 2) === 's') {
        i += 2;
        if (!endsString(at(fmt, i + 1))) return bad();
      } else if (next === '\0' || isSpace(next) || isPunct(next) || 'KxsSB'.includes(next)) {
        i++;
      } else if ((next === 'i' || next === 'I') && (at(fmt, i + 2) === '4' || at(fmt, i + 2) === '6')) {
        i += 2;
      } else {
        return bad();
      }
    } else if (conv === 's') {
      if (!endsString(next)) return bad();
    } else if (conv !== 'c') {
      if (at(fmt, i) === 'l') i++;
      if (at(fmt, i) === 'l') i++;
      if (!'iduxX'.includes(at(fmt, i))) return bad();
    }
    spec++;
  }
  return undefined;
}

/** What may follow %s: the end, a space or punctuation (no further format extensions). */
function endsString(c: string): boolean {
  return c === '\0' || isSpace(c) || isPunct(c);
}
