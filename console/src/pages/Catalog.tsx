// Packs, triggers and sensors (with their processes' status and restarts): catalog lists with the
// same filters (pack, ref) and paging.
import type { ReactNode } from "react";
import { Link, useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useQuery, type Query } from "../api/useQuery";
import { Filters, filterValue } from "../ui/Filters";
import { short } from "../ui/format";
import { cursor, ListBody, Page, Status, Table, Time, type Column } from "../ui/widgets";

type Kind = "packs" | "triggers" | "sensors";
type Listing<T> = Query<{ data: T[]; next?: number | null }>;

function useCatalogQuery() {
  const [params] = useSearchParams();
  return {
    key: params.toString(),
    query: {
      pack: filterValue(params, "pack"),
      ref: filterValue(params, "ref"),
      before_id: cursor(params),
      limit: 100,
    },
  };
}

function Listed<T extends { id: number }>({
  title,
  list,
  columns,
  filters,
  lead,
}: {
  title: string;
  list: Listing<T>;
  columns: Column<T>[];
  filters: ReactNode;
  lead?: ReactNode;
}) {
  return (
    <Page title={title}>
      {lead}
      {filters}
      <ListBody list={list} empty="Nothing matches.">
        {(rows) => <Table caption={title} rows={rows} rowKey={(r) => r.id} columns={columns} />}
      </ListBody>
    </Page>
  );
}

const REF_FILTER = { name: "ref", label: "Ref", placeholder: "core.*" };
const PACK_FILTER = { name: "pack", label: "Pack", placeholder: "core" };

function Packs() {
  const { key, query } = useCatalogQuery();
  const list = useQuery(() => call(api.GET("/api/v1/packs", { params: { query } })), key);
  return (
    <Listed<Schemas["Pack"]>
      title="Packs"
      list={list}
      filters={<Filters filters={[{ ...REF_FILTER, placeholder: "examples" }]} />}
      columns={[
        { title: "Pack", cell: (p) => <Link to={`/packs/${p.ref}`}>{p.ref}</Link> },
        { title: "Version", cell: (p) => p.version },
        { title: "Description", cell: (p) => p.description, className: "wide" },
      ]}
    />
  );
}

function Triggers() {
  const { key, query } = useCatalogQuery();
  const list = useQuery(() => call(api.GET("/api/v1/triggers", { params: { query } })), key);
  return (
    <Listed<Schemas["TriggerOut"]>
      title="Triggers"
      list={list}
      filters={<Filters filters={[PACK_FILTER, REF_FILTER]} />}
      columns={[
        { title: "Trigger", cell: (t) => <code>{t.ref}</code> },
        { title: "Description", cell: (t) => t.description, className: "wide" },
        { title: "Webhook", cell: (t) => (t.webhook_enabled ? (t.webhook_secret_set ? "on (signed)" : "on (API key)") : "off") },
        { title: "Enabled", cell: (t) => <Status value={t.enabled ? "enabled" : "disabled"} /> },
        { title: "Events", cell: (t) => <Link to={`/events?trigger_ref=${t.ref}`}>events</Link> },
      ]}
    />
  );
}

function Sensors() {
  const { key, query } = useCatalogQuery();
  const list = useQuery(() => call(api.GET("/api/v1/sensors", { params: { query } })), key);
  return (
    <Listed<Schemas["SensorView"]>
      title="Sensors"
      list={list}
      lead={
        <p className="lead">
          Pack sensors run as processes of a sensor replica, restarted with growing pauses when they crash (
          <em>backoff</em>). Built-in sensors (the timers) run inside the sensor service and have no process.
        </p>
      }
      filters={<Filters filters={[PACK_FILTER, REF_FILTER]} />}
      columns={[
        { title: "Sensor", cell: (s) => <code>{s.ref}</code> },
        { title: "Enabled", cell: (s) => <Status value={s.enabled ? "enabled" : "disabled"} /> },
        {
          title: "Process",
          cell: (s) =>
            s.process ? <Status value={s.process.status} /> : <span className="muted">{s.runner_type === "builtin" ? "built in" : "not started"}</span>,
        },
        { title: "Restarts", cell: (s) => (s.process ? String(s.process.restarts) : "—") },
        {
          title: "Where",
          cell: (s) => (s.process ? `${s.process.host}${s.process.pid ? ` pid ${s.process.pid}` : ""}` : "—"),
        },
        { title: "Since", cell: (s) => <Time iso={s.process?.started_at} /> },
        {
          title: "Last error",
          className: "wide",
          cell: (s) =>
            s.process?.last_error ? (
              <details>
                <summary>
                  <Time iso={s.process.last_error_at} />: {short(lastLine(s.process.last_error), 60)}
                </summary>
                <pre className="output stderr" tabIndex={0} aria-label={`Last error of ${s.ref}`}>
                  {s.process.last_error}
                </pre>
              </details>
            ) : (
              "—"
            ),
        },
        { title: "Emits", cell: (s) => s.trigger_types.join(", ") || "—" },
      ]}
    />
  );
}

/** The last non-blank line of a sensor's stderr: usually the exception. */
function lastLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return lines[lines.length - 1] ?? text;
}

export function Catalog({ kind }: { kind: Kind }) {
  if (kind === "packs") return <Packs />;
  if (kind === "triggers") return <Triggers />;
  return <Sensors />;
}
