import { Link, useParams, useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useStream } from "../api/live";
import { useQuery, useThrottled } from "../api/useQuery";
import { Filters, filterValue } from "../ui/Filters";
import { short } from "../ui/format";
import { cursor, ErrorNote, Fields, Json, ListBody, LiveBadge, Loading, Page, Section, Table, Time } from "../ui/widgets";
import { EnforcementRows } from "./Enforcements";

export function Events() {
  const [params] = useSearchParams();
  const query = {
    trigger_ref: filterValue(params, "trigger_ref"),
    rule_ref: filterValue(params, "rule_ref"),
    since: filterValue(params, "since"),
    until: filterValue(params, "until"),
    before_id: cursor(params),
    limit: 50,
  };
  const list = useQuery(() => call(api.GET("/api/v1/events", { params: { query } })), params.toString());
  const connected = useStream("events", useThrottled(list.reload, 500), { trigger_ref: query.trigger_ref });

  return (
    <Page title="Events" actions={<LiveBadge connected={connected} />}>
      <Filters
        filters={[
          { name: "trigger_ref", label: "Trigger", placeholder: "examples.alert" },
          { name: "rule_ref", label: "Rule (targeted)", placeholder: "examples.*" },
          { name: "since", label: "Since", kind: "datetime" },
          { name: "until", label: "Until", kind: "datetime" },
        ]}
      />
      <ListBody list={list} empty="No events match.">
        {(rows) => (
          <Table<Schemas["Event"]>
          caption="Events, newest first"
          rows={rows}
          rowKey={(e) => e.id}
          columns={[
            { title: "Id", cell: (e) => <Link to={`/events/${e.id}`}>#{e.id}</Link> },
            { title: "Trigger", cell: (e) => e.trigger_ref },
            { title: "Source", cell: (e) => e.source_ref ?? "—" },
            { title: "Payload", cell: (e) => <code>{short(e.payload, 60)}</code>, className: "wide" },
            { title: "Received", cell: (e) => <Time iso={e.created} /> },
          ]}
        />
        )}
      </ListBody>
    </Page>
  );
}

export function EventDetail() {
  const id = Number(useParams().id);
  const event = useQuery(() => call(api.GET("/api/v1/events/{id}", { params: { path: { id } } })), `e${id}`);
  const e = event.data;
  if (!e) return event.error ? <ErrorNote error={event.error} /> : <Loading />;
  return (
    <Page title={`Event #${e.id}`}>
      <Section title="Summary">
        <Fields
          rows={[
            ["Trigger", e.trigger_ref],
            ["Received", <Time iso={e.created} />],
            ["Source", e.source_ref ?? "—"],
            ["Trace tag", e.trace_tag ?? "—"],
            ["Message id", e.dedup_id ?? "—"],
            ["Targets rule", e.rule_ref ? <Link to={`/rules/${e.rule_ref}`}>{e.rule_ref}</Link> : "every matching rule"],
          ]}
        />
      </Section>
      <Section title="Payload">
        <Json value={e.payload} label="Payload" />
      </Section>
      <Section title="Enforcements">
        {e.enforcements.length === 0 ? (
          <p className="muted">
            No rule matched this event (an enforcement is recorded only for rules whose criteria matched).
          </p>
        ) : (
          <EnforcementRows rows={e.enforcements} caption="Enforcements this event produced" />
        )}
      </Section>
    </Page>
  );
}
