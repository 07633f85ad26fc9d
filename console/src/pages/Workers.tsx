import { api, call, type Schemas } from "../api/client";
import { useQuery } from "../api/useQuery";
import { ago } from "../ui/format";
import { Empty, ErrorNote, Loading, Page, Status, Table, Time } from "../ui/widgets";

export function WorkerTable({ workers, caption }: { workers: Schemas["Worker"][]; caption: string }) {
  return (
    <Table
      caption={caption}
      rows={workers}
      rowKey={(w) => w.id}
      columns={[
        { title: "Worker", cell: (w) => <span id={`worker-${w.id}`}>{w.name}</span> },
        { title: "Status", cell: (w) => <Status value={w.status} /> },
        { title: "Host", cell: (w) => `${w.host ?? "—"}${w.pid ? ` (pid ${w.pid})` : ""}` },
        { title: "Concurrency", cell: (w) => String(w.concurrency) },
        { title: "Last heartbeat", cell: (w) => <span title={w.last_heartbeat ?? ""}>{ago(w.last_heartbeat)}</span> },
        { title: "Since", cell: (w) => <Time iso={w.created} /> },
      ]}
    />
  );
}

export function Workers() {
  const list = useQuery(() => call(api.GET("/api/v1/workers", { params: { query: { limit: 200 } } })), "workers");
  return (
    <Page title="Workers" actions={<button type="button" onClick={list.reload}>Refresh</button>}>
      <p className="lead">Executor replicas: each runs actions up to its concurrency and sends a heartbeat.</p>
      <ErrorNote error={list.error} />
      {!list.data && <Loading />}
      {list.data && list.data.data.length === 0 && <Empty>No executor has registered yet.</Empty>}
      {list.data && list.data.data.length > 0 && <WorkerTable workers={list.data.data} caption="Workers" />}
    </Page>
  );
}
