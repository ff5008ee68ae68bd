/**
 * Masking of secret values (issue 14): every form of a value an execution used is replaced by
 * `***` in what is stored of it (log lines, outputs, error messages, artifact names). Pure.
 *
 * The forms of a value, as the GitHub Actions runner's value encoders make them: the value
 * itself, JSON-escaped (inside a JSON string), URL-encoded (`%20` and form-style `+`) and base64
 * (alone, with its padding, and inside longer base64 text at each of the three byte offsets:
 * the part of the encoding that does not depend on the bytes around it). A value of several
 * lines is also masked line by line, each line with its forms, since a log line holds one of
 * them. Forms shorter than `minFormChars` are not masked: a line such as `}` or a two-letter
 * value would mask every occurrence of common text and make logs unreadable, for little secrecy.
 */

/** What a form of a secret value is replaced with. */
const maskText = '***';

/** Shorter forms (and lines of multi-line values) are left alone; see the file comment. */
const minFormChars = 4;

/** The forms of `value` that are masked, longest first. */
export function secretForms(value: string): string[] {
  const forms = new Set<string>();
  const lines = value.split('\n').map((l) => l.replace(/\r$/, ''));
  const pieces = lines.length > 1 ? [value, ...lines] : [value];
  for (const piece of pieces) {
    if (piece.trim().length < minFormChars) continue;
    forms.add(piece);
    forms.add(JSON.stringify(piece).slice(1, -1));
    forms.add(encodeURIComponent(piece));
    forms.add(new URLSearchParams({ v: piece }).toString().slice(2));
    const bytes = Buffer.from(piece, 'utf8');
    forms.add(bytes.toString('base64'));
    for (let shift = 0; shift < 3; shift++) {
      const part = bytes.subarray(shift);
      if (part.length === 0) break;
      const encoded = part.toString('base64').replace(/=+$/, '');
      // The last character of an encoding that does not end on a 3-byte boundary mixes in bits
      // of the byte after the value.
      forms.add(part.length % 3 === 0 ? encoded : encoded.slice(0, -1));
    }
  }
  return [...forms].filter((f) => f.length >= minFormChars).sort((a, b) => b.length - a.length);
}

/** Masks the values of the secrets it was made with. */
export class SecretMasker {
  private readonly pattern: RegExp | undefined;
  /**
   * Characters a stream must hold back before masking what it has (the longest form minus
   * one), so a value split across two writes is still seen whole.
   */
  readonly holdback: number;

  constructor(values: Iterable<string>) {
    const forms = new Set<string>();
    for (const value of values) for (const form of secretForms(value)) forms.add(form);
    const sorted = [...forms].sort((a, b) => b.length - a.length);
    this.holdback = Math.max(0, (sorted[0]?.length ?? 0) - 1);
    this.pattern =
      sorted.length === 0
        ? undefined
        : new RegExp(sorted.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  }

  /** True when there is nothing to mask. */
  get empty(): boolean {
    return this.pattern === undefined;
  }

  /**
   * Where a stream may cut `text` to mask and send the part before the cut: `holdback`
   * characters before its end, or earlier, at the start of a value that straddles that point.
   */
  safeCut(text: string): number {
    if (this.pattern === undefined) return text.length;
    const cut = Math.max(0, text.length - this.holdback);
    for (const m of text.matchAll(this.pattern)) {
      if (m.index >= cut) break;
      if (m.index + m[0].length > cut) return m.index;
    }
    return cut;
  }

  mask(text: string): string {
    return this.pattern === undefined ? text : text.replace(this.pattern, maskText);
  }

  /** `value` with every string in it masked, object keys included (JSON values: outputs). */
  maskDeep<T>(value: T): T {
    return this.pattern === undefined ? value : (this.deep(value) as T);
  }

  private deep(value: unknown): unknown {
    if (typeof value === 'string') return this.mask(value);
    if (Array.isArray(value)) return value.map((v) => this.deep(v));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[this.mask(k)] = this.deep(v);
      return out;
    }
    return value;
  }
}
