// Small canvas charts for the demo: lines against step, and a scatter of the data.

export interface Series {
  label: string;
  color: string;
  points: { x: number; y: number }[];
}

export interface ChartOptions {
  title: string;
  series: Series[];
  /** fixed y range; by default from 0 to the largest value */
  yRange?: [number, number];
  /** a dashed horizontal line, e.g. the accuracy target */
  guide?: { y: number; label: string };
  xLabel?: string;
  /** the x axis spans at least 0 … xMin steps (default 100) */
  xMin?: number;
  /** said in the middle of the plot while no series has a point, e.g. "compiling shaders…" */
  placeholder?: string;
}

const PAD = { left: 48, right: 12, top: 44, bottom: 30 };

/** Sizes the canvas's backing store to its CSS size on this screen; returns the 2D context. */
function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ratio = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  return ctx;
}

const niceStep = (span: number, ticks: number) => {
  const raw = span / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
};

export function drawChart(canvas: HTMLCanvasElement, o: ChartOptions): void {
  const ctx = context(canvas);
  const { width, height } = canvas.getBoundingClientRect();
  const all = o.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  const xMax = Math.max(o.xMin ?? 100, ...all.map((p) => p.x));
  // without data, a y axis from 0 to 1 rather than 0 … 0.001
  const [yMin, yMax] = o.yRange ?? [0, all.length ? Math.max(1e-3, ...all.map((p) => p.y)) * 1.05 : 1];
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const sx = (x: number) => PAD.left + (x / xMax) * plotW;
  const sy = (y: number) => PAD.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;

  ctx.fillStyle = '#222';
  ctx.fillText(o.title, 4, 16);
  ctx.strokeStyle = '#ddd';
  ctx.fillStyle = '#666';
  ctx.lineWidth = 1;
  const yStep = niceStep(yMax - yMin, 5);
  for (let y = Math.ceil(yMin / yStep) * yStep; y <= yMax + 1e-9; y += yStep) {
    ctx.beginPath();
    ctx.moveTo(PAD.left, sy(y));
    ctx.lineTo(width - PAD.right, sy(y));
    ctx.stroke();
    ctx.fillText(+y.toFixed(3) + '', 4, sy(y) + 4);
  }
  const xStep = niceStep(xMax, 6);
  for (let x = 0; x <= xMax; x += xStep) {
    const text = String(x);
    ctx.fillText(text, Math.min(sx(x) - 8, width - PAD.right - ctx.measureText(text).width), height - 12);
  }
  if (o.xLabel) ctx.fillText(o.xLabel, width - PAD.right - ctx.measureText(o.xLabel).width, height - 2);

  if (o.guide) {
    ctx.setLineDash([5, 4]);
    ctx.strokeStyle = '#999';
    ctx.beginPath();
    ctx.moveTo(PAD.left, sy(o.guide.y));
    ctx.lineTo(width - PAD.right, sy(o.guide.y));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillText(o.guide.label, width - PAD.right - ctx.measureText(o.guide.label).width, sy(o.guide.y) - 4);
  }

  o.series.forEach((s) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    for (const p of s.points) {
      if (!Number.isFinite(p.y)) {
        pen = false;
        continue;
      }
      if (pen) ctx.lineTo(sx(p.x), sy(p.y));
      else ctx.moveTo(sx(p.x), sy(p.y));
      pen = true;
    }
    ctx.stroke();
  });

  if (all.length === 0 && o.placeholder) {
    ctx.fillStyle = '#888';
    ctx.textAlign = 'center';
    ctx.fillText(o.placeholder, PAD.left + plotW / 2, PAD.top + plotH / 2);
    ctx.textAlign = 'start';
  }

  // the legend, on the line below the title
  let lx = PAD.left;
  for (const s of o.series) {
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 29, 14, 3);
    ctx.fillText(s.label, lx + 18, 34);
    lx += ctx.measureText(s.label).width + 34;
  }
}

/** Points of the plane coloured by class. */
export function drawScatter(canvas: HTMLCanvasElement, points: Float32Array, labels: Uint32Array, colors: string[]): void {
  const ctx = context(canvas);
  const { width, height } = canvas.getBoundingClientRect();
  const half = Math.min(width, height) / 2 - 6;
  for (let i = 0; i < labels.length; i++) {
    ctx.fillStyle = colors[labels[i] % colors.length];
    ctx.fillRect(width / 2 + points[2 * i] * half - 1.5, height / 2 - points[2 * i + 1] * half - 1.5, 3, 3);
  }
}
