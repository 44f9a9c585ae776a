/**
 * Output read as it arrives, one record at a time: for git output whose size a remote or a
 * repository decides (a ref advertisement, a tree listing), so it is never held whole.
 */

export interface RecordSplitterOptions {
  /** The byte that ends a record: `\n` (0x0a) for lines, NUL for `-z` output. */
  readonly separator: number;
  /** A longer record is refused before it is buffered. */
  readonly maxRecordBytes: number;
  readonly onRecord: (record: string) => void;
  /** The error thrown for a record longer than `maxRecordBytes`. */
  readonly tooLong: () => Error;
}

/**
 * Splits a byte stream into records at a separator. Each record is decoded on its own, so a string
 * kept by `onRecord` holds on to nothing of the chunk it came from, and a multi-byte character is
 * never cut by a chunk boundary. Throws (from `push`) what `onRecord` or `tooLong` throws.
 */
export class RecordSplitter {
  private readonly options: RecordSplitterOptions;
  /** The start of a record whose separator has not arrived yet. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(options: RecordSplitterOptions) {
    this.options = options;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(this.options.separator, start);
      if (end < 0) break;
      this.checkLength(end - start);
      this.emit(chunk, start, end);
      start = end + 1;
    }
    if (start === chunk.length) return;
    this.checkLength(chunk.length - start);
    this.pending.push(chunk.subarray(start));
    this.pendingBytes += chunk.length - start;
  }

  /** The last record, when the output does not end with a separator. */
  end(): void {
    if (this.pendingBytes > 0) this.emit(Buffer.alloc(0), 0, 0);
  }

  private checkLength(more: number): void {
    if (this.pendingBytes + more > this.options.maxRecordBytes) {
      this.pending = [];
      this.pendingBytes = 0;
      throw this.options.tooLong();
    }
  }

  private emit(chunk: Buffer, start: number, end: number): void {
    let record: string;
    if (this.pendingBytes === 0) {
      record = chunk.toString('utf8', start, end);
    } else {
      record = Buffer.concat([...this.pending, chunk.subarray(start, end)]).toString('utf8');
      this.pending = [];
      this.pendingBytes = 0;
    }
    this.options.onRecord(record);
  }
}
