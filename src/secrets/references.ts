/**
 * Which secrets a text names inside its `${{ … }}` expressions: `secrets.NAME`,
 * `secrets['NAME']` or `secrets["NAME"]`, also JSON-escaped (`secrets[\"NAME\"]`), so a graph's
 * or a node's JSON text can be scanned as it is. Textual, so it is cheap and may count a mention
 * inside an expression's string literal; names are `[A-Za-z0-9_]`, so they need no escaping.
 * The listings' `usedBy` and the worker (which secrets a node needs when it starts) share it.
 */

/** A secret's name (wire/secrets.ts `SecretNameSchema`). */
export const secretNamePattern = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** One `${{ … }}` span (unclosed at the end of the text: up to its end). */
const spanRe = /\$\{\{((?:(?!\}\})[^])*)/g;
const nameRe =
  /\bsecrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:'|\\?")([A-Za-z_][A-Za-z0-9_]*)(?:'|\\?")\s*\])/g;

/** The names of the secrets `text` names, in the order first named. */
export function secretNamesIn(text: string): string[] {
  const names = new Set<string>();
  if (!text.includes('secrets')) return [];
  for (const span of text.matchAll(spanRe))
    for (const m of span[1]!.matchAll(nameRe)) names.add((m[1] ?? m[2])!);
  return [...names];
}
