import { Link, useParams, useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useStream } from "../api/live";
import { useQuery, useThrottled } from "../api/useQuery";
import { Filters, filterValue } from "../ui/Filters";
import { ENFORCEMENT_STATUSES } from "../ui/statuses";
import { cursor, ErrorNote, Fields, Json, ListBody, LiveBadge, Loading, Page, RefLink, Section, Status, Table, Time } from "../ui/widgets";
import { CriteriaTable } from "./Rules";

/** `resolved_at` is null while the enforcement is pending. */
function Resolved({ at }: { at: string | null | undefined }) {
  return at ? <Time iso={at} /> : <span className="pending">Pending</span>;
}

export function EnforcementRows({ rows, caption }: { rows: Schemas["Enforcement"][]; caption: string }) {
  return (
    <Table
      caption={caption}
      rows={rows}
      rowKey={(f) => f.id}
      columns={[
        { title: "Id", cell: (f) => <Link to={`/enforcements/${f.id}`}>#{f.id}</Link> },
        { title: "Rule", cell: (f) => <Link to={`/rules/${f.rule_ref}`}>{f.rule_ref}</Link> },
        { title: "Status", cell: (f) => <Status value={f.status} /> },
        { title: "Event", cell: (f) => <RefLink to={f.event ? `/events/${f.event}` : null}>{f.event ? `#${f.event}` : "—"}</RefLink> },
        { title: "Resolved", cell: (f) => <Resolved at={f.resolved_at} /> },
        { title: "Why not run", cell: (f) => f.failure_reason ?? "—", className: "wide" },
      ]}
    />
  );
}

export function Enforcements() {
  const [params] = useSearchParams();
  const query = {
    rule_ref: filterValue(params, "rule_ref"),
    trigger_ref: filterValue(params, "trigger_ref"),
    status: params.get("status") as Schemas["Enforcement"]["status"] | undefined,
    since: filterValue(params, "since"),
    until: filterValue(params, "until"),
    before_id: cursor(params),
    limit: 50,
  };
  const list = useQuery(() => call(api.GET("/api/v1/enforcements", { params: { query } })), params.toString());
  const connected = useStream("enforcements", useThrottled(list.reload, 500), { rule_ref: query.rule_ref });
  return (
    <Page title="Enforcements" actions={<LiveBadge connected={connected} />}>
      <Filters
        filters={[
          { name: "rule_ref", label: "Rule", placeholder: "examples.*" },
          { name: "trigger_ref", label: "Trigger", placeholder: "examples.alert" },
          { name: "status", label: "Status", kind: "select", options: ENFORCEMENT_STATUSES },
          { name: "since", label: "Since", kind: "datetime" },
          { name: "until", label: "Until", kind: "datetime" },
        ]}
      />
      <ListBody list={list} empty="No enforcements match.">
        {(rows) => (
          <EnforcementRows rows={rows} caption="Enforcements, newest first" />
        )}
      </ListBody>
    </Page>
  );
}

export function EnforcementDetail() {
  const id = Number(useParams().id);
  const enforcement = useQuery(() => call(api.GET("/api/v1/enforcements/{id}", { params: { path: { id } } })), `f${id}`);
  const f = enforcement.data;
  if (!f) return enforcement.error ? <ErrorNote error={enforcement.error} /> : <Loading />;
  return (
    <Page title={<>Enforcement #{f.id} <Status value={f.status} /></>}>
      <Section title="Summary">
        <Fields
          rows={[
            ["Rule", <Link to={`/rules/${f.rule_ref}`}>{f.rule_ref}</Link>],
            ["Event", <RefLink to={f.event ? `/events/${f.event}` : null}>{f.event ? `#${f.event}` : "—"}</RefLink>],
            ["Trigger", f.trigger_ref],
            ["Created", <Time iso={f.created} />],
            ["Resolved", <Resolved at={f.resolved_at} />],
            ["Why not run", f.failure_reason ?? "—"],
            ["Trace tag", f.trace_tag ?? "—"],
          ]}
        />
      </Section>
      <Section title="Executions">
        {f.executions.length === 0 ? (
          <p className="muted">No execution yet.</p>
        ) : (
          <ul>
            {f.executions.map((x) => (
              <li key={x.id}>
                <Link to={`/executions/${x.id}`}>
                  #{x.id} {x.action_ref}
                </Link>{" "}
                <Status value={x.status} />
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Section title={`Criteria (condition: ${f.condition})`}>
        <CriteriaTable criteria={f.criteria} />
      </Section>
      <Section title="Action parameters">
        <Json value={f.config} label="Rendered action parameters" />
      </Section>
    </Page>
  );
}
