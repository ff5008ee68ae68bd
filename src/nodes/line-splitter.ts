/**
 * Splits a byte stream into text lines: `\n` and `\r\n` end a line, a multi-byte UTF-8 sequence
 * split across chunks stays whole, and a line longer than `maxChars` is cut with a marker while
 * the rest of it is counted and dropped, so memory stays bounded whatever a process prints.
 *
 * With a `holdback`, an over-long line keeps that many characters past `maxChars`: whoever masks
 * secret values in the lines (the worker) then sees a value that straddles the cut whole, and
 * the log writer cuts the line at its own limit after masking.
 */
import { StringDecoder } from 'node:string_decoder';

const defaultMaxLineChars = 16 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  /** Characters dropped from the current over-long line. */
  private dropped = 0;
  private droppedCR = false;

  private readonly maxChars: number;

  constructor(
    private readonly emit: (line: string) => void,
    maxChars = defaultMaxLineChars,
    holdback = 0,
  ) {
    this.maxChars = maxChars + holdback;
  }

  push(chunk: Buffer | string): void {
    this.take(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  }

  /** Emits the last line when the stream ended without a newline. */
  end(): void {
    this.take(this.decoder.end());
    if (this.pending !== '' || this.dropped > 0) this.flushLine();
  }

  private take(text: string): void {
    let from = 0;
    for (;;) {
      const nl = text.indexOf('\n', from);
      if (nl < 0) break;
      this.append(text.slice(from, nl));
      this.flushLine();
      from = nl + 1;
    }
    if (from < text.length) this.append(text.slice(from));
  }

  private append(part: string): void {
    if (part === '') return;
    if (this.dropped > 0) {
      this.dropped += part.length;
      this.droppedCR = part.endsWith('\r');
      return;
    }
    const room = this.maxChars - this.pending.length;
    if (part.length <= room) {
      this.pending += part;
      return;
    }
    // Cut before a high surrogate so the kept part stays valid UTF-16.
    let cut = room;
    const code = part.charCodeAt(cut - 1);
    if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut--;
    this.pending += part.slice(0, cut);
    this.dropped = part.length - cut;
    this.droppedCR = part.endsWith('\r');
  }

  private flushLine(): void {
    let line = this.pending;
    // The `\r` of a CRLF line ending may sit in the dropped part; it is not content.
    const more = this.dropped - (this.droppedCR ? 1 : 0);
    if (more > 0) {
      this.emit(`${line} … [line truncated: ${more} more characters]`);
    } else {
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.emit(line);
    }
    this.pending = '';
    this.dropped = 0;
    this.droppedCR = false;
  }
}
