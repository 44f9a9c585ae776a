import { describe, expect, it } from 'vitest';
import { RecordSplitter } from './records.js';

function splitter(separator: number, maxRecordBytes = 1024) {
  const records: string[] = [];
  const split = new RecordSplitter({
    separator,
    maxRecordBytes,
    onRecord: (record) => records.push(record),
    tooLong: () => new Error('record too long'),
  });
  return { split, records };
}

describe('RecordSplitter', () => {
  it('gives each record once, wherever the chunks break', () => {
    const text = 'first\nsécond\n\nlast';
    const bytes = Buffer.from(text);
    for (let size = 1; size <= bytes.length; size++) {
      const { split, records } = splitter(0x0a);
      for (let at = 0; at < bytes.length; at += size) split.push(bytes.subarray(at, at + size));
      split.end();
      // "é" is two bytes: a chunk boundary between them still decodes whole.
      expect(records).toEqual(['first', 'sécond', '', 'last']);
    }
  });

  it('splits NUL-terminated output, and gives nothing for no output', () => {
    const { split, records } = splitter(0);
    split.push(Buffer.from('a b\0c d\0'));
    split.end();
    expect(records).toEqual(['a b', 'c d']);
    const empty = splitter(0);
    empty.split.end();
    expect(empty.records).toEqual([]);
  });

  it('refuses a record longer than the limit before buffering it, in one chunk or many', () => {
    const whole = splitter(0x0a, 8);
    whole.split.push(Buffer.from('12345678\n'));
    expect(() => whole.split.push(Buffer.from('123456789\n'))).toThrow('record too long');
    expect(whole.records).toEqual(['12345678']);

    const pieces = splitter(0x0a, 8);
    pieces.split.push(Buffer.from('12345'));
    expect(() => pieces.split.push(Buffer.from('6789'))).toThrow('record too long');
    expect(pieces.records).toEqual([]);
  });
});
