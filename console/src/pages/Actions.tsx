import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useQuery } from "../api/useQuery";
import { useSession } from "../session";
import { Filters, filterValue } from "../ui/Filters";
import { SchemaForm } from "../ui/SchemaForm";
import { cursor, ErrorNote, Fields, Json, ListBody, Loading, Page, Section, Status, Table } from "../ui/widgets";

export function Actions() {
  const [params] = useSearchParams();
  const query = {
    pack: filterValue(params, "pack"),
    ref: filterValue(params, "ref"),
    before_id: cursor(params),
    limit: 100,
  };
  const list = useQuery(() => call(api.GET("/api/v1/actions", { params: { query } })), params.toString());
  return (
    <Page title="Actions">
      <Filters
        filters={[
          { name: "pack", label: "Pack", placeholder: "core" },
          { name: "ref", label: "Ref", placeholder: "core.*" },
        ]}
      />
      <ListBody list={list} empty="No actions match.">
        {(rows) => (
          <Table<Schemas["Action"]>
          caption="Actions"
          rows={rows}
          rowKey={(a) => a.id}
          columns={[
            { title: "Action", cell: (a) => <Link to={`/actions/${a.ref}`}>{a.ref}</Link> },
            { title: "Runner", cell: (a) => a.runner_type },
            { title: "Description", cell: (a) => a.description, className: "wide" },
            { title: "Enabled", cell: (a) => <Status value={a.enabled ? "enabled" : "disabled"} /> },
          ]}
        />
        )}
      </ListBody>
    </Page>
  );
}

export function ActionDetail() {
  const ref = useParams().ref ?? "";
  const { can } = useSession();
  const navigate = useNavigate();
  const action = useQuery(() => call(api.GET("/api/v1/actions/{ref}", { params: { path: { ref } } })), ref);
  const a = action.data;
  if (!a) return action.error ? <ErrorNote error={action.error} /> : <Loading />;
  return (
    <Page title={`Action ${a.ref}`}>
      {a.description && <p className="lead">{a.description}</p>}
      <div className="grid">
        {can("operator") && a.enabled && (
          <Section title="Run">
            <SchemaForm
              schema={a.parameters_schema}
              submitLabel={`Run ${a.ref}`}
              onSubmit={async (parameters) => {
                const created = await call(api.POST("/api/v1/executions", { body: { action_ref: a.ref, parameters } }));
                navigate(`/executions/${created.id}`);
              }}
            />
          </Section>
        )}
        <Section title="Summary">
          <Fields
            rows={[
              ["Runner", a.runner_type],
              ["Entry point", a.entry_point ? <code>{a.entry_point}</code> : "—"],
              ["Pack", <Link to={`/packs/${a.pack_ref}`}>{a.pack_ref}</Link>],
              ["Enabled", <Status value={a.enabled ? "enabled" : "disabled"} />],
              ["Timeout", a.timeout_seconds ? `${a.timeout_seconds} s` : "executor default"],
              ["Retries", String(a.max_retries)],
              ["Executions", <Link to={`/executions?action_ref=${a.ref}`}>recent runs</Link>],
            ]}
          />
        </Section>
      </div>
      <Section title="Parameters schema">
        <Json value={a.parameters_schema} label="Parameters schema" />
      </Section>
    </Page>
  );
}
