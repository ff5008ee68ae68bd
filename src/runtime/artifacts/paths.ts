/** The names artifacts may have (what can be stored and downloaded) and their content types. */

/** Longest artifact path accepted, in characters. */
const maxArtifactPathLength = 1024;

const contentTypes: Record<string, string> = {
  txt: 'text/plain',
  log: 'text/plain',
  out: 'text/plain',
  md: 'text/markdown',
  json: 'application/json',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  html: 'text/html',
  htm: 'text/html',
  csv: 'text/csv',
  xml: 'application/xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  tar: 'application/x-tar',
};

/** Content type from the file extension; unknown ones are application/octet-stream. */
export function contentTypeOf(relPath: string): string {
  const base = relPath.slice(relPath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot <= 0) return 'application/octet-stream';
  return contentTypes[base.slice(dot + 1).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Why `p` is not an acceptable artifact path, or undefined. Accepted: relative, '/'-separated,
 * no empty, '.' or '..' segment, no backslash, no NUL, at most 1,024 characters.
 */
export function checkArtifactPath(p: string): string | undefined {
  if (p === '') return 'is empty';
  if (p.length > maxArtifactPathLength) return `is longer than ${maxArtifactPathLength} characters`;
  if (p.includes('\0')) return 'holds a NUL character';
  if (p.includes('\\')) return 'holds a backslash';
  if (p.startsWith('/')) return 'is absolute';
  for (const seg of p.split('/')) {
    if (seg === '') return 'has an empty segment';
    if (seg === '.' || seg === '..') return `has a '${seg}' segment`;
  }
  return undefined;
}
