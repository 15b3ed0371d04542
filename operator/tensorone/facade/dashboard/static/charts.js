// Line charts of the metrics history, drawn by the vendored uPlot (see vendor/uplot/VERSION). Each chart is a
// <figure> whose accessible name says what it shows and its latest values, for people who cannot see it.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { h, num } from "./dom.js";

const HEIGHT = 220;
// Steps are whole numbers: ticks at 1, 2, 5, 10, 20, 50, … never at 2.5.
const STEP_INCREMENTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
// Colours with at least 3:1 contrast on white, told apart by dash pattern as well as hue.
export const SERIES_STYLE = [
  { stroke: "#1f5fbf", width: 2 },
  { stroke: "#b3401a", width: 2, dash: [6, 4] },
  { stroke: "#2e7d32", width: 2, dash: [2, 3] },
];

export class LineChart {
  constructor({ id, title, series, yLabel, yRange = null }) {
    this.yRange = yRange;
    this.title = title;
    this.series = series;
    this.body = h("div", { class: "chart-body" });
    this.empty = h("p", { class: "hint" }, "No points yet.");
    this.figure = h("figure", { class: "chart", id, role: "img", "aria-label": `${title}: no points yet` },
      h("figcaption", {}, title), this.empty, this.body);
    this.yLabel = yLabel;
    this.plot = null;
    this.count = 0;
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(this.body);
  }

  width() {
    return Math.max(240, Math.floor(this.body.clientWidth || this.figure.clientWidth || 600));
  }

  fit() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: HEIGHT });
  }

  /** `xs`: steps ascending; `ys`: one array per series (null where a series has no value at that step). */
  update(xs, ys) {
    this.count = xs.length;
    this.figure.dataset.points = String(xs.length);
    this.empty.hidden = xs.length > 0;
    const latest = this.series.map((s, i) => {
      const values = ys[i].filter((v) => v !== null && v !== undefined);
      return values.length ? `${s.label} ${num(values[values.length - 1])}` : null;
    }).filter(Boolean);
    this.figure.setAttribute("aria-label", xs.length
      ? `${this.title}: ${xs.length} points up to step ${xs[xs.length - 1]}; latest ${latest.join(", ")}`
      : `${this.title}: no points yet`);
    if (!xs.length) return;
    const data = [xs, ...ys];
    if (!this.plot) {
      this.plot = new uPlot({
        width: this.width(),
        height: HEIGHT,
        scales: { x: { time: false }, ...(this.yRange ? { y: { range: this.yRange } } : {}) },
        axes: [
          { label: "step", incrs: STEP_INCREMENTS },
          { label: this.yLabel, size: 64, values: (_, ticks) => ticks.map((v) => num(v, 3)) },
        ],
        series: [
          { label: "step" },
          ...this.series.map((s, i) => ({
            label: s.label,
            spanGaps: true,
            points: { show: xs.length < 60 },
            value: (_, v) => num(v),
            ...SERIES_STYLE[i % SERIES_STYLE.length],
          })),
        ],
        legend: { live: true },
      }, data, this.body);
    } else {
      this.plot.setData(data);
    }
  }

  destroy() {
    this.resize.disconnect();
    if (this.plot) this.plot.destroy();
  }
}
