/**
 * The one parser of resource quantities (`runtime_config.cpu`, `memory`, `pids`), used by
 * definition validation, by the runtimes' limits and by pricing alike. The spellings follow Kubernetes quantities, which most users know:
 * `cpu: "500m"` is half a CPU, `memory: "64Mi"` is 64 × 2^20 bytes and `memory: "512M"` is
 * 512 × 10^6 bytes. A lowercase `m` on memory (Docker's "megabytes", Kubernetes' "milli") is
 * refused because the two readings differ by a factor of a billion.
 *
 * Each parser takes the value as it comes from a definition: `undefined`/`null` (not set) give
 * `undefined`, numbers and strings are parsed, anything else or a bad spelling throws
 * `QuantityError`, whose message names the value and what would be accepted.
 */

/** A limit that cannot be read; the message names the value and what would be accepted. */
export class QuantityError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityError';
  }
}

/** CPUs: `2`, `0.5`, `".5"`, `"1.5"`, `"500m"` (millicpus). At least 0.001 (one millicpu). */
export function parseCpu(value: unknown): number | undefined {
  const text = quantityText(value, 'cpu');
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?|\.\d+)(m?)$/.exec(text);
  if (match === null) {
    throw new QuantityError(
      `invalid cpu ${JSON.stringify(value)}: use a number of CPUs ("2", "0.5") or millicpus ("500m")`,
    );
  }
  const cpus = Number(match[1]) / (match[2] === 'm' ? 1000 : 1);
  if (!(cpus >= 0.001) || !Number.isFinite(cpus)) {
    throw new QuantityError(`invalid cpu ${JSON.stringify(value)}: must be at least 1m`);
  }
  return cpus;
}

const memoryUnits: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

/** Bytes: `67108864`, `"64Mi"`, `"1Gi"`, `"512M"`, `"1.5Gi"` (rounded down to whole bytes). */
export function parseMemory(value: unknown): number | undefined {
  const text = quantityText(value, 'memory');
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?|\.\d+)([A-Za-z]*)$/.exec(text);
  const unit = match === null ? undefined : memoryUnits[match[2]!];
  if (match === null || unit === undefined) {
    throw new QuantityError(
      `invalid memory ${JSON.stringify(value)}: use bytes or a quantity such as "64Mi", "1Gi" or "512M"`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new QuantityError(`invalid memory ${JSON.stringify(value)}: out of range`);
  }
  return bytes;
}

/** Most processes at once: a positive integer. */
export function parsePids(value: unknown): number | undefined {
  const text = quantityText(value, 'pids');
  if (text === undefined) return undefined;
  const pids = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(pids) || pids < 1) {
    throw new QuantityError(`invalid pids ${JSON.stringify(value)}: use a positive integer`);
  }
  return pids;
}

function quantityText(value: unknown, what: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' || typeof value === 'string') return String(value).trim();
  throw new QuantityError(`invalid ${what}: expected a string or a number, got ${typeof value}`);
}
