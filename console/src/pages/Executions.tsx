import { Link, useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useStream } from "../api/live";
import { useQuery, useThrottled } from "../api/useQuery";
import { Filters, filterValue } from "../ui/Filters";
import { duration } from "../ui/format";
import { EXECUTION_STATUSES, FINISHED } from "../ui/statuses";
import { type Column, cursor, ListBody, LiveBadge, Page, Status, Table, Time } from "../ui/widgets";

const COLUMNS: Column<Schemas["Execution"]>[] = [
  { title: "Id", cell: (x) => <Link to={`/executions/${x.id}`}>#{x.id}</Link> },
  { title: "Action", cell: (x) => <Link to={`/actions/${x.action_ref}`}>{x.action_ref}</Link> },
  { title: "Status", cell: (x) => <Status value={x.status} /> },
  { title: "Rule", cell: (x) => (x.rule_ref ? <Link to={`/rules/${x.rule_ref}`}>{x.rule_ref}</Link> : "manual") },
  { title: "Created", cell: (x) => <Time iso={x.created} /> },
  { title: "Took", cell: (x) => (FINISHED.has(x.status) ? duration(x.started_at ?? x.created, x.updated) : "—") },
];

export function Executions() {
  const [params] = useSearchParams();
  const query = {
    status: params.get("status") ? [params.get("status") as Schemas["Execution"]["status"]] : undefined,
    action_ref: filterValue(params, "action_ref"),
    rule_ref: filterValue(params, "rule_ref"),
    trigger_ref: filterValue(params, "trigger_ref"),
    since: filterValue(params, "since"),
    until: filterValue(params, "until"),
    before_id: cursor(params),
    limit: 50,
  };
  const list = useQuery(() => call(api.GET("/api/v1/executions", { params: { query } })), params.toString());
  const refresh = useThrottled(list.reload, 500);
  const connected = useStream("executions", refresh, { action_ref: query.action_ref });

  return (
    <Page title="Executions" actions={<LiveBadge connected={connected} />}>
      <Filters
        filters={[
          { name: "status", label: "Status", kind: "select", options: EXECUTION_STATUSES },
          { name: "action_ref", label: "Action", placeholder: "core.* or core.echo" },
          { name: "rule_ref", label: "Rule", placeholder: "examples.*" },
          { name: "trigger_ref", label: "Trigger", placeholder: "examples.alert" },
          { name: "since", label: "Since", kind: "datetime" },
          { name: "until", label: "Until", kind: "datetime" },
        ]}
      />
      <ListBody list={list} empty="No executions match.">
        {(rows) => (
          <Table caption="Executions, newest first" rows={rows} columns={COLUMNS} rowKey={(x) => x.id} />
        )}
      </ListBody>
    </Page>
  );
}
