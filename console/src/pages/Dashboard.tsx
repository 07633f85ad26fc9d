import { useMemo, useState } from "react";
import { Link } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useStream, type ExecutionChange } from "../api/live";
import { useQuery, useThrottled } from "../api/useQuery";
import { ChartFigure, type Dataset } from "../charts/Chart";
import { ErrorNote, LiveBadge, Loading, Page, Section } from "../ui/widgets";
import { WorkerTable } from "./Workers";

const WINDOWS = [
  { hours: 6, label: "6 hours" },
  { hours: 24, label: "24 hours" },
  { hours: 168, label: "7 days" },
  { hours: 720, label: "30 days" },
];
const STATUS_COLORS: Record<string, string> = {
  requested: "#9aa5b1",
  scheduled: "#b8c2cc",
  running: "#3b82f6",
  completed: "#15803d",
  failed: "#dc2626",
  timeout: "#ea580c",
  cancelled: "#6b7280",
  abandoned: "#7c2d12",
};
const SHOWN_STATUSES = ["running", "completed", "failed", "timeout", "cancelled", "abandoned"];
const HOUR = 3600_000;

type Point = { bucket: string; ref: string; value: number };

/** The hourly buckets of the window, oldest first, and their labels. */
function buckets(since: string, until: string, hours: number): { keys: number[]; labels: string[] } {
  const start = Math.floor(new Date(since).getTime() / HOUR) * HOUR;
  const end = new Date(until).getTime();
  const keys: number[] = [];
  for (let t = start; t < end; t += HOUR) keys.push(t);
  const labels = keys.map((t) =>
    new Date(t).toLocaleString(undefined, hours <= 48 ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit" }),
  );
  return { keys, labels };
}

function perBucket(points: Point[], keys: number[], keep: (p: Point) => boolean = () => true): number[] {
  const sums = new Map<number, number>();
  for (const p of points) if (keep(p)) {
    const key = new Date(p.bucket).getTime();
    sums.set(key, (sums.get(key) ?? 0) + p.value);
  }
  return keys.map((k) => sums.get(k) ?? 0);
}

function top(points: Point[], n: number): [string, number][] {
  const sums = new Map<string, number>();
  for (const p of points) sums.set(p.ref, (sums.get(p.ref) ?? 0) + p.value);
  return [...sums.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
}

async function loadAnalytics(hours: number) {
  const query = { params: { query: { hours } } };
  const [status, failure, events, enforcements, volume] = await Promise.all([
    call(api.GET("/api/v1/analytics/executions/status", query)),
    call(api.GET("/api/v1/analytics/executions/failure-rate", query)),
    call(api.GET("/api/v1/analytics/events/volume", query)),
    call(api.GET("/api/v1/analytics/enforcements/volume", query)),
    call(api.GET("/api/v1/analytics/executions/volume", query)),
  ]);
  return { status, failure, events, enforcements, volume };
}

/** Live counts; `onExecution` also hears each execution status change (one stream per kind:
 * browsers allow few connections per host). */
function Counters({ onExecution }: { onExecution: () => void }) {
  const [counts, setCounts] = useState({ events: 0, enforcements: 0, started: 0, completed: 0, failed: 0 });
  const bump = (key: keyof typeof counts) => setCounts((c) => ({ ...c, [key]: c[key] + 1 }));
  const events = useStream("events", () => bump("events"));
  const enforcements = useStream("enforcements", () => bump("enforcements"));
  const executions = useStream<ExecutionChange>("executions", (change) => {
    onExecution();
    if (change.new_status === "running") bump("started");
    if (change.new_status === "completed") bump("completed");
    if (["failed", "timeout", "abandoned"].includes(change.new_status)) bump("failed");
  });
  const items: [string, number][] = [
    ["Events", counts.events],
    ["Enforcements", counts.enforcements],
    ["Executions started", counts.started],
    ["Completed", counts.completed],
    ["Failed or timed out", counts.failed],
  ];
  return (
    <Section title="Since you opened this page" actions={<LiveBadge connected={events && enforcements && executions} />}>
      <ul className="counters">
        {items.map(([label, value]) => (
          <li key={label}>
            <span className="count" aria-live="polite">{value}</span>
            <span className="label">{label}</span>
          </li>
        ))}
      </ul>
    </Section>
  );
}

export default function Dashboard() {
  const [hours, setHours] = useState(24);
  const analytics = useQuery(() => loadAnalytics(hours), String(hours));
  const workers = useQuery(() => call(api.GET("/api/v1/workers", { params: { query: { limit: 200 } } })), "workers");
  const refresh = useThrottled(analytics.reload, 5000);

  const charts = useMemo(() => {
    const a = analytics.data;
    if (!a) return null;
    const { keys, labels } = buckets(a.status.since, a.status.until, hours);
    const byStatus: Dataset[] = SHOWN_STATUSES.map((status) => ({
      label: status,
      color: STATUS_COLORS[status] ?? "#999",
      data: perBucket(a.status.points as Point[], keys, (p) => (p as Schemas["StatusPoint"]).status === status),
    }));
    const topActions = top(a.volume.points as Point[], 8);
    const topRules = top(a.enforcements.points as Point[], 8);
    return {
      labels,
      byStatus,
      failure: [{ label: "failure rate %", color: "#dc2626", data: perBucket(a.failure.points as Point[], keys) }],
      volume: [
        { label: "events", color: "#6366f1", data: perBucket(a.events.points as Point[], keys) },
        { label: "enforcements", color: "#0891b2", data: perBucket(a.enforcements.points as Point[], keys) },
      ],
      topActions,
      topRules,
    };
  }, [analytics.data, hours]);
  const failure = analytics.data?.failure;
  const workerRows = workers.data?.data ?? [];
  const windowLabel = WINDOWS.find((w) => w.hours === hours)?.label ?? `${hours} hours`;

  return (
    <Page
      title="Dashboard"
      actions={
        <div className="window" role="group" aria-label="Time window">
          {WINDOWS.map((w) => (
            <button key={w.hours} type="button" aria-pressed={w.hours === hours} onClick={() => setHours(w.hours)}>
              {w.label}
            </button>
          ))}
        </div>
      }
    >
      <Counters onExecution={refresh} />
      <ErrorNote error={analytics.error} />
      {!charts && !analytics.error && <Loading />}
      {charts && failure && (
        <>
          <ul className="counters headline" aria-label={`Last ${windowLabel}`}>
            <li><span className="count">{failure.total_terminal}</span><span className="label">finished in the last {windowLabel}</span></li>
            <li><span className="count">{failure.completed_count}</span><span className="label">completed</span></li>
            <li><span className="count">{failure.failed_count + failure.timeout_count}</span><span className="label">failed or timed out</span></li>
            <li><span className="count">{failure.failure_rate_pct}%</span><span className="label">failure rate</span></li>
          </ul>
          <div className="charts">
            <ChartFigure
              title="Executions per hour by status"
              summary={`Status changes per hour over the last ${windowLabel}: ${charts.byStatus.map((d) => `${d.label} ${d.data.reduce((a, b) => a + b, 0)}`).join(", ")}.`}
              type="bar"
              stacked
              labels={charts.labels}
              datasets={charts.byStatus}
            />
            <ChartFigure
              title="Failure rate per hour"
              summary={`Failure rate over the last ${windowLabel}: ${failure.failure_rate_pct}% of ${failure.total_terminal} finished executions.`}
              type="line"
              labels={charts.labels}
              datasets={charts.failure}
            />
            <ChartFigure
              title="Events and enforcements per hour"
              summary={`Events and enforcements per hour over the last ${windowLabel}: ${charts.volume.map((d) => `${d.data.reduce((a, b) => a + b, 0)} ${d.label}`).join(", ")}.`}
              type="line"
              labels={charts.labels}
              datasets={charts.volume}
            />
            <ChartFigure
              title="Top actions"
              summary={`Most run actions: ${charts.topActions.map(([ref, n]) => `${ref} ${n}`).join(", ") || "none"}.`}
              type="bar"
              horizontal
              labels={charts.topActions.map(([ref]) => ref)}
              datasets={[{ label: "executions", color: "#3b82f6", data: charts.topActions.map(([, n]) => n) }]}
            />
            <ChartFigure
              title="Top rules"
              summary={`Rules that fired most: ${charts.topRules.map(([ref, n]) => `${ref} ${n}`).join(", ") || "none"}.`}
              type="bar"
              horizontal
              labels={charts.topRules.map(([ref]) => ref)}
              datasets={[{ label: "enforcements", color: "#0891b2", data: charts.topRules.map(([, n]) => n) }]}
            />
          </div>
        </>
      )}
      <Section title="Workers" actions={<Link to="/workers">All workers</Link>}>
        {workers.data ? (
          workerRows.length ? <WorkerTable workers={workerRows} caption="Executor replicas" /> : <p className="muted">No executor has registered yet.</p>
        ) : (
          <Loading />
        )}
      </Section>
    </Page>
  );
}
