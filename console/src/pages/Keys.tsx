import { useSearchParams } from "react-router";
import { api, call, type Schemas } from "../api/client";
import { useQuery } from "../api/useQuery";
import { Filters, filterValue } from "../ui/Filters";
import { short } from "../ui/format";
import { ListBody, Page, Table, Time } from "../ui/widgets";

type Key = Schemas["KeyOut"];

export function Keys() {
  const [params] = useSearchParams();
  const query = {
    prefix: filterValue(params, "prefix"),
    scope: (params.get("scope") ?? undefined) as Key["scope"] | undefined,
    after: params.get("after") ?? undefined,
    limit: 100,
  };
  const list = useQuery(() => call(api.GET("/api/v1/keys", { params: { query } })), params.toString());
  return (
    <Page title="Keys">
      <p className="lead">
        The datastore rules and actions read as <code>st2kv.system.…</code> and <code>st2kv.user.…</code>. Secret
        values stay hidden: the console never asks the API to decrypt them.
      </p>
      <Filters
        filters={[
          { name: "prefix", label: "Name starts with", placeholder: "slack." },
          { name: "scope", label: "Scope", kind: "select", options: ["system", "user"] },
        ]}
      />
      <ListBody list={list} empty="No keys." cursorParam="after">
        {(rows) => (
          <Table<Key>
            caption="Keys"
            rows={rows}
            rowKey={(k) => `${k.scope}:${k.user ?? ""}:${k.name}`}
            columns={[
              { title: "Key", cell: (k) => <code>{k.name}</code> },
              { title: "Scope", cell: (k) => (k.scope === "user" ? `user ${k.user ?? ""}` : "system") },
              {
                title: "Value",
                cell: (k) => (k.secret ? <span aria-label="secret value hidden">••••••••</span> : <code>{short(k.value, 60)}</code>),
              },
              { title: "Secret", cell: (k) => (k.secret ? "yes" : "no") },
              { title: "Description", cell: (k) => k.description, className: "wide" },
              { title: "Expires", cell: (k) => (k.expires_at ? <Time iso={k.expires_at} /> : "never") },
            ]}
          />
        )}
      </ListBody>
    </Page>
  );
}
