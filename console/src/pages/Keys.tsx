import { useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useQuery } from "../api/useQuery";
import { Filters, filterValue } from "../ui/Filters";
import { cursor, ListBody, Page, Table, Time } from "../ui/widgets";

export function Keys() {
  const [params] = useSearchParams();
  const query = {
    ref: filterValue(params, "ref"),
    before_id: cursor(params),
    limit: 100,
  };
  const list = useQuery(() => call(api.GET("/api/v1/keys", { params: { query } })), params.toString());
  return (
    <Page title="Keys">
      <p className="lead">The datastore. Values are never shown here; encrypted ones are stored encrypted at rest.</p>
      <Filters filters={[{ name: "ref", label: "Ref", placeholder: "slack.*" }]} />
      <ListBody list={list} empty="No keys.">
        {(rows) => (
          <Table<Schemas["KeyOut"]>
          caption="Keys"
          rows={rows}
          rowKey={(k) => k.id}
          columns={[
            { title: "Key", cell: (k) => <code>{k.ref}</code> },
            { title: "Value", cell: () => <span aria-label="value hidden">••••••••</span> },
            { title: "Encrypted", cell: (k) => (k.encrypted ? "yes" : "no") },
            { title: "Description", cell: (k) => k.description, className: "wide" },
            { title: "Updated", cell: (k) => <Time iso={k.updated} /> },
          ]}
        />
        )}
      </ListBody>
    </Page>
  );
}
