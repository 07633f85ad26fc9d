// Chart.js, registered with only what the dashboard draws (bars and lines on hourly buckets).
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef } from "react";

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);
Chart.defaults.animation = false;
Chart.defaults.font.family = "system-ui, sans-serif";
Chart.defaults.color = "#3b4252";

export type Dataset = { label: string; data: number[]; color: string };

/** A chart as a figure: the canvas is an image whose text alternative is `summary`. */
export function ChartFigure({
  title,
  summary,
  type,
  labels,
  datasets,
  stacked = false,
  horizontal = false,
}: {
  title: string;
  summary: string;
  type: "bar" | "line";
  labels: string[];
  datasets: Dataset[];
  stacked?: boolean;
  horizontal?: boolean;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const total = datasets.reduce((sum, d) => sum + d.data.reduce((a, b) => a + b, 0), 0);

  useEffect(() => {
    if (!canvas.current) return;
    const config: ChartConfiguration<"bar" | "line"> = {
      type,
      data: {
        labels,
        datasets: datasets.map((d) => ({
          label: d.label,
          data: d.data,
          backgroundColor: d.color,
          borderColor: d.color,
          borderWidth: type === "line" ? 2 : 0,
          pointRadius: 0,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: horizontal ? "y" : "x",
        plugins: { legend: { display: datasets.length > 1, position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: { stacked, ticks: { maxTicksLimit: 8, maxRotation: 0 }, grid: { display: false } },
          y: { stacked, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    };
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, [type, labels, datasets, stacked, horizontal]);

  const id = `chart-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <figure className="card chart" aria-labelledby={id} data-total={total}>
      <figcaption id={id}>{title}</figcaption>
      <div className="chart-box">
        <canvas ref={canvas} role="img" aria-label={summary} />
      </div>
    </figure>
  );
}
