// Small hand-drawn charts for queue cards: a stacked depth bar and an SVG sparkline.

const SVG = "http://www.w3.org/2000/svg";

/** A "nice" upper bound for a bar's scale: 10, 20, 50, 100, 200, ... */
export function niceCeil(n) {
  const floor = 10;
  if (n <= floor) return floor;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (n <= step * power) return step * power;
  return 10 * power;
}

export function depthBar() {
  const bar = document.createElement("div");
  bar.className = "depthbar";
  for (const part of ["visible", "in_flight", "delayed"]) {
    const seg = document.createElement("span");
    seg.className = `seg seg-${part}`;
    bar.append(seg);
  }
  return bar;
}

export function depthBarUpdate(bar, depth, scale) {
  const segs = bar.children;
  ["visible", "in_flight", "delayed"].forEach((part, i) => {
    segs[i].style.width = `${Math.min(100, (100 * (depth[part] || 0)) / scale)}%`;
  });
  bar.title = `${depth.visible} visible, ${depth.in_flight} in flight, ${depth.delayed} delayed (bar scale ${scale})`;
}

export function sparkline() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("viewBox", "0 0 180 24");
  svg.setAttribute("preserveAspectRatio", "none");
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", "spark-line");
  svg.append(area, line);
  return svg;
}

/** Draw `points` (numbers, oldest first, one a second) right-aligned over 180 slots. */
export function sparklineUpdate(svg, points, scale) {
  const n = points.length;
  const top = Math.max(scale, 1);
  const coords = points.map((v, i) => `${180 - (n - 1 - i)},${(24 - (22 * v) / top - 1).toFixed(1)}`);
  const [area, line] = svg.children;
  line.setAttribute("points", coords.join(" "));
  area.setAttribute("points", n ? `${180 - (n - 1)},24 ${coords.join(" ")} 180,24` : "");
}
