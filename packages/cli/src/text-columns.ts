import stringWidth from 'string-width';

// Cuts fall between graphemes (an emoji with its modifiers, a letter with its accents), never inside.
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/**
 * The columns `text` takes on a terminal: a CJK character or an emoji takes two, a combining
 * accent none, colour codes none.
 */
export function textWidth(text: string): number {
  return stringWidth(text);
}

/** `text` padded with spaces to `width` columns. */
export function padTo(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - stringWidth(text)));
}

/** `text` in exactly `width` columns: cut with "…" when wider (plain text only), padded when narrower. */
export function fitTo(text: string, width: number): string {
  if (stringWidth(text) <= width) return padTo(text, width);
  let kept = '';
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const w = stringWidth(segment);
    if (used + w > width - 1) break;
    kept += segment;
    used += w;
  }
  return padTo(`${kept}…`, width);
}

/** How wide each column is: its widest cell or title, at most `max`. */
export function columnWidths(
  titles: readonly string[],
  rows: readonly (readonly string[])[],
  max = Number.POSITIVE_INFINITY,
): number[] {
  return titles.map((title, i) =>
    Math.min(max, Math.max(stringWidth(title), ...rows.map((row) => stringWidth(row[i] ?? '')))),
  );
}

/**
 * Rows under a title row, in columns two spaces apart; the last column is left as it is (not
 * padded, not cut). `style` dresses the title row (bold, on a terminal).
 */
export function formatColumns(
  titles: readonly string[],
  rows: readonly (readonly string[])[],
  style: (titleRow: string) => string = (s) => s,
): string[] {
  const widths = columnWidths(titles, rows);
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : fitTo(cell, widths[i]!))).join('  ');
  return [style(line(titles)), ...rows.map(line)];
}
