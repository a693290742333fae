/**
 * A hand-written SVG bar chart of sotto's ratios (no browser, no library): one row per
 * case, one bar per baseline, a dashed line at 1.0 (parity). Higher is better for sotto.
 */

export interface Bar {
  label: string;
  /** One value per series; null when not measured. */
  values: (number | null)[];
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The chart as an SVG document. */
export function barChart(title: string, series: string[], bars: Bar[], note = ""): string {
  const colors = ["#3b6fb6", "#e08a2e", "#5aa469", "#a05195"];
  const left = 250, right = 70, top = 56, rowH = 14 * series.length + 12, width = 860;
  const plotW = width - left - right;
  const height = top + bars.length * rowH + 48;
  const max = Math.max(1.2, ...bars.flatMap((b) => b.values.filter((v): v is number => v !== null && Number.isFinite(v))));
  const x = (v: number) => left + (Math.min(v, max) / max) * plotW;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  series.forEach((s, i) => {
    const lx = left + i * 170;
    out.push(`<rect x="${lx}" y="30" width="12" height="12" fill="${colors[i % colors.length]}"/><text x="${lx + 16}" y="40">${esc(s)}</text>`);
  });
  // Grid: 0, 0.5, 1, ... up to max.
  for (let g = 0; g <= max + 1e-9; g += max > 4 ? 1 : 0.5) {
    const gx = x(g);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + bars.length * rowH}" stroke="${g === 1 ? "#c00" : "#ddd"}" ${g === 1 ? 'stroke-dasharray="5,3"' : ""}/>`);
    out.push(`<text x="${gx}" y="${top + bars.length * rowH + 16}" text-anchor="middle" fill="#555">${g.toFixed(1)}×</text>`);
  }
  bars.forEach((b, r) => {
    const y0 = top + r * rowH;
    out.push(`<text x="${left - 8}" y="${y0 + rowH / 2 + 4}" text-anchor="end">${esc(b.label)}</text>`);
    b.values.forEach((v, i) => {
      const y = y0 + 6 + i * 14;
      if (v === null || !Number.isFinite(v)) {
        out.push(`<text x="${left + 4}" y="${y + 10}" fill="#999">n/a</text>`);
        return;
      }
      out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left)}" height="11" fill="${colors[i % colors.length]}"/>`);
      out.push(`<text x="${x(v) + 4}" y="${y + 10}" fill="#333">${v.toFixed(2)}×${v > max ? " →" : ""}</text>`);
    });
  });
  if (note) out.push(`<text x="${left}" y="${height - 10}" fill="#555">${esc(note)}</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
