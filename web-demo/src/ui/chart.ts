// A small line chart on a canvas: a few series over a shared x axis, a cursor line, and
// axis labels. Enough for live metrics without a charting library.

export interface Series {
  label: string;
  colour: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
}

export interface ChartOptions {
  yLabel: (v: number) => string;
  xLabel: (v: number) => string;
  /** Fixed y range (else from the data, from 0). */
  yMax?: number;
}

export class LineChart {
  private ctx: CanvasRenderingContext2D;
  private series: Series[] = [];
  private cursor: number | null = null;
  private xRange: [number, number] = [0, 1];

  constructor(
    readonly canvas: HTMLCanvasElement,
    private opts: ChartOptions,
  ) {
    this.ctx = canvas.getContext("2d")!;
  }

  set(series: Series[], xRange: [number, number], cursor: number | null): void {
    this.series = series;
    this.xRange = xRange;
    this.cursor = cursor;
    this.draw();
  }

  draw(): void {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const hgt = c.clientHeight;
    if (!w || !hgt) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
    }
    const g = this.ctx;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const pad = { l: 44, r: 8, t: 8, b: 18 };
    const [x0, x1] = this.xRange[1] > this.xRange[0] ? this.xRange : [this.xRange[0], this.xRange[0] + 1];
    let yMax = this.opts.yMax ?? 0;
    if (this.opts.yMax === undefined) {
      for (const s of this.series) for (const p of s.points) if (p.x >= x0 && p.x <= x1) yMax = Math.max(yMax, p.y);
      yMax = yMax > 0 ? niceCeil(yMax) : 1;
    }
    const X = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (w - pad.l - pad.r);
    const Y = (y: number) => hgt - pad.b - (y / yMax) * (hgt - pad.t - pad.b);
    g.font = "10.5px system-ui, sans-serif";
    g.fillStyle = "#64748b";
    g.strokeStyle = "#1e293b";
    g.lineWidth = 1;
    for (let i = 0; i <= 3; i++) {
      const y = (yMax * i) / 3;
      g.beginPath();
      g.moveTo(pad.l, Y(y) + 0.5);
      g.lineTo(w - pad.r, Y(y) + 0.5);
      g.stroke();
      g.textAlign = "right";
      g.fillText(this.opts.yLabel(y), pad.l - 5, Y(y) + 3.5);
    }
    g.textAlign = "left";
    g.fillText(this.opts.xLabel(x0), pad.l, hgt - 4);
    g.textAlign = "right";
    g.fillText(this.opts.xLabel(x1), w - pad.r, hgt - 4);
    for (const s of this.series) {
      g.strokeStyle = s.colour;
      g.lineWidth = 1.6;
      g.setLineDash(s.dashed ? [4, 3] : []);
      g.beginPath();
      let started = false;
      for (const p of s.points) {
        if (p.x < x0 || p.x > x1 || !Number.isFinite(p.y)) continue;
        if (!started) g.moveTo(X(p.x), Y(p.y));
        else g.lineTo(X(p.x), Y(p.y));
        started = true;
      }
      g.stroke();
    }
    g.setLineDash([]);
    if (this.cursor !== null && this.cursor >= x0 && this.cursor <= x1) {
      g.strokeStyle = "#e2e8f088";
      g.beginPath();
      g.moveTo(X(this.cursor) + 0.5, pad.t);
      g.lineTo(X(this.cursor) + 0.5, hgt - pad.b);
      g.stroke();
    }
  }
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
