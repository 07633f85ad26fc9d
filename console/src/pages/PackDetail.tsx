import { Link, useParams } from "react-router";
import { api, call } from "../api/client";
import { useQuery } from "../api/useQuery";
import { ErrorNote, Fields, Json, Loading, Page, Section, Table, Time } from "../ui/widgets";

export function PackDetail() {
  const ref = useParams().ref ?? "";
  const pack = useQuery(() => call(api.GET("/api/v1/packs/{ref}", { params: { path: { ref } } })), ref);
  const query = { pack: ref, limit: 1000 };
  const actions = useQuery(() => call(api.GET("/api/v1/actions", { params: { query } })), `a${ref}`);
  const rules = useQuery(() => call(api.GET("/api/v1/rules", { params: { query } })), `r${ref}`);
  const triggers = useQuery(() => call(api.GET("/api/v1/triggers", { params: { query } })), `t${ref}`);
  const p = pack.data;
  if (!p) return pack.error ? <ErrorNote error={pack.error} /> : <Loading />;
  const components = [
    ...(actions.data?.data ?? []).map((a) => ({ kind: "action", ref: a.ref, to: `/actions/${a.ref}` })),
    ...(rules.data?.data ?? []).map((r) => ({ kind: "rule", ref: r.ref, to: `/rules/${r.ref}` })),
    ...(triggers.data?.data ?? []).map((t) => ({ kind: "trigger", ref: t.ref, to: `/events?trigger_ref=${t.ref}` })),
  ];
  return (
    <Page title={`Pack ${p.ref}`}>
      {p.description && <p className="lead">{p.description}</p>}
      <Section title="Summary">
        <Fields rows={[["Version", p.version], ["Path", p.path ?? "—"], ["Updated", <Time iso={p.updated} />]]} />
      </Section>
      <Section title="Components">
        <Table
          caption="Actions, rules and triggers of the pack"
          rows={components}
          rowKey={(c) => `${c.kind}:${c.ref}`}
          columns={[
            { title: "Kind", cell: (c) => c.kind },
            { title: "Ref", cell: (c) => <Link to={c.to}>{c.ref}</Link> },
          ]}
        />
      </Section>
      <Section title="Configuration">
        <Json value={masked(p.config, p.config_schema)} label="Pack configuration (secrets masked)" />
      </Section>
    </Page>
  );
}

/** The config with the values its schema marks `secret: true` hidden. */
function masked(config: Record<string, unknown>, schema: Record<string, unknown>): Record<string, unknown> {
  const properties = (schema.properties ?? {}) as Record<string, { secret?: boolean }>;
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, properties[k]?.secret ? "********" : v]));
}
