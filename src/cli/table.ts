/**
 * kubectl-style tables: columns padded to their widest cell, three spaces apart, the last one unpadded. Colour is added
 * after padding, so escape codes never skew the widths.
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  paint: (column: string, value: string, padded: string) => string = (_c, _v, padded) => padded,
): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (row: readonly string[], painted: boolean): string =>
    row
      .map((cell, i) => {
        const padded = i === row.length - 1 ? cell : cell.padEnd(widths[i]!);
        return painted ? paint(header[i]!, cell, padded) : padded;
      })
      .join('   ')
      .trimEnd();
  return [line(header, false), ...rows.map((row) => line(row, true))];
}
