import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";

export type Filter = {
  name: string;
  label: string;
  kind?: "text" | "select" | "datetime";
  options?: readonly string[];
  placeholder?: string;
};

/** Filters kept in the address (shareable, Back-able); applying one returns to the newest page. */
export function Filters({ filters }: { filters: Filter[] }) {
  const [params, setParams] = useSearchParams();
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(filters.map((f) => [f.name, params.get(f.name) ?? ""])),
  );

  function apply(event: FormEvent) {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of Object.entries(values)) if (value) next.set(name, value);
    setParams(next);
  }
  function clear() {
    setValues(Object.fromEntries(filters.map((f) => [f.name, ""])));
    setParams(new URLSearchParams());
  }

  return (
    <form className="filters" onSubmit={apply} aria-label="Filters">
      {filters.map((f) => {
        const id = `filter-${f.name}`;
        const set = (value: string) => setValues((v) => ({ ...v, [f.name]: value }));
        return (
          <div key={f.name} className="filter">
            <label htmlFor={id}>{f.label}</label>
            {f.kind === "select" ? (
              <select id={id} value={values[f.name]} onChange={(e) => set(e.target.value)}>
                <option value="">any</option>
                {f.options?.map((o) => (
                  <option key={o} value={o}>
                    {o}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={id}
                type={f.kind === "datetime" ? "datetime-local" : "text"}
                placeholder={f.placeholder}
                value={values[f.name]}
                onChange={(e) => set(e.target.value)}
              />
            )}
          </div>
        );
      })}
      <div className="filter-buttons">
        <button type="submit">Apply</button>
        <button type="button" onClick={clear}>
          Clear
        </button>
      </div>
    </form>
  );
}

/** The value of a filter for the API: datetime-local values are the reader's local time. */
export function filterValue(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  if (!value) return undefined;
  if (name === "since" || name === "until") return new Date(value).toISOString();
  return value;
}
